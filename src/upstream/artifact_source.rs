//! STUB — replaced by the artifact fetcher (see the helper brief).
