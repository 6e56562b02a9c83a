//! Wall-clock time as the Delivery API, the spool and the metrics count it: whole
//! milliseconds or seconds since the Unix epoch. One place, so every layer reads the
//! clock the same way; a clock set before 1970 reads as 0.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in milliseconds since the epoch.
pub fn now_ms() -> i64 {
    epoch_ms(SystemTime::now())
}

/// `time` in milliseconds since the epoch.
pub fn epoch_ms(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// `time` in whole seconds since the epoch.
pub fn epoch_secs(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn before_the_epoch_reads_as_zero() {
        assert_eq!(epoch_ms(UNIX_EPOCH - Duration::from_secs(1)), 0);
        assert_eq!(epoch_secs(UNIX_EPOCH + Duration::from_millis(2_500)), 2);
        assert_eq!(epoch_ms(UNIX_EPOCH + Duration::from_millis(2_500)), 2_500);
        assert!(now_ms() > 1_700_000_000_000);
    }
}
