//! The decision explorer's pure part: the loaded artifact turned into what the page
//! shows ([`view`]), audiences as sentences ([`audience`]), and a tried request
//! explained from its trace ([`outcome`]). No I/O and no HTML: `http::explorer` renders
//! these and `client::TargetClient::explain` decides the tried request.

pub mod audience;
pub mod outcome;
pub mod view;

#[cfg(test)]
mod tests;
