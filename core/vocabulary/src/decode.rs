//! Decoding the vocabulary from JSON, keeping the typed error of a value that was refused.
//!
//! serde reports every failure as text. When a value inside a request does not parse —
//! an id, a status, a permission, a currency — the vocabulary's `Deserialize` impls also
//! record the engine's typed [`Error`] for it (`refuse`), and [`from_json`] returns that
//! error, so a malformed id is `MalformedId` over every transport, as it is in Rust.
//! What serde alone sees wrong (a missing field, an unknown one, a list for a string) is
//! [`Undecodable::Shape`].

use std::cell::RefCell;

use serde::de::DeserializeOwned;

use crate::error::Error;

thread_local! {
    /// The typed error of the last value refused on this thread.
    static REFUSED: RefCell<Option<Error>> = const { RefCell::new(None) };
}

/// Why a JSON text did not decode.
#[derive(Debug)]
pub enum Undecodable {
    /// A value was refused: the engine's typed error for it.
    Value(Error),
    /// The JSON does not have the expected shape: serde's explanation, with its position.
    Shape(String),
}

impl std::fmt::Display for Undecodable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Undecodable::Value(e) => e.fmt(f),
            Undecodable::Shape(s) => f.write_str(s),
        }
    }
}

/// Records `make()`'s error as the reason a value was refused, and returns the error a
/// `Deserialize` impl gives serde (with the same message).
pub(crate) fn refuse<E: serde::de::Error>(error: Error) -> E {
    let message = error.to_string();
    REFUSED.with(|r| *r.borrow_mut() = Some(error));
    E::custom(message)
}

/// For `TryFrom` impls that serde calls: records the error `make` builds and returns
/// another one built the same way.
pub(crate) fn refused(make: impl Fn() -> Error) -> Error {
    REFUSED.with(|r| *r.borrow_mut() = Some(make()));
    make()
}

fn decoded<T>(result: Result<T, serde_json::Error>) -> Result<T, Undecodable> {
    let typed = REFUSED.with(|r| r.borrow_mut().take());
    result.map_err(|e| match typed {
        Some(error) => Undecodable::Value(error),
        None => Undecodable::Shape(e.to_string()),
    })
}

/// Decodes `text` as a `T`.
pub fn from_json<T: DeserializeOwned>(text: &str) -> Result<T, Undecodable> {
    REFUSED.with(|r| r.borrow_mut().take());
    decoded(serde_json::from_str(text))
}

/// Decodes a JSON value as a `T`.
pub fn from_json_value<T: DeserializeOwned>(json: serde_json::Value) -> Result<T, Undecodable> {
    REFUSED.with(|r| r.borrow_mut().take());
    decoded(serde_json::from_value(json))
}
