//! The two encodings of the ABI's messages: JSON for modules that speak version 1,
//! postcard (binary) for version 2. A module says which by its `one_abi_version`; every
//! message of every call to it — requests, answers, reads and their answers — is then
//! in that encoding. The messages themselves are the SDK's (`one_plugin_sdk::abi`).

use serde::Serialize;
use serde::de::DeserializeOwned;

use one_plugin_sdk::abi::{ABI_JSON, ABI_VERSION, Manifest, Reply};

/// How a module's messages are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// ABI version 1: JSON text.
    Json,
    /// ABI version 2: postcard.
    Binary,
}

impl Encoding {
    /// The encoding of ABI `version`, or why the host does not speak it.
    pub(crate) fn of_version(version: i32) -> Result<Self, String> {
        match u32::try_from(version) {
            Ok(ABI_JSON) => Ok(Encoding::Json),
            Ok(ABI_VERSION) => Ok(Encoding::Binary),
            _ => Err(format!(
                "speaks plugin ABI version {version}; this host runs versions {ABI_JSON} \
                 (JSON) and {ABI_VERSION} (binary)"
            )),
        }
    }

    /// `message` in this encoding.
    pub(crate) fn encode<T: Serialize>(self, message: &T) -> Result<Vec<u8>, String> {
        match self {
            Encoding::Json => serde_json::to_vec(message).map_err(|e| e.to_string()),
            Encoding::Binary => postcard::to_allocvec(message).map_err(|e| e.to_string()),
        }
    }

    /// A message of type `T` from `bytes`, or why `bytes` is not one.
    pub(crate) fn decode<T: DeserializeOwned>(self, bytes: &[u8]) -> Result<T, String> {
        match self {
            Encoding::Json => serde_json::from_slice(bytes).map_err(|e| e.to_string()),
            Encoding::Binary => postcard::from_bytes(bytes)
                .map_err(|e| format!("{e} (read as ABI version {ABI_VERSION}'s binary encoding)")),
        }
    }

    /// A plugin's answer to a hook: its reply, or why the bytes are not one.
    pub(crate) fn answer<T: DeserializeOwned>(self, bytes: &[u8]) -> Result<Reply<T>, String> {
        self.decode(bytes)
            .map_err(|e| format!("answered something that is not the ABI: {e}"))
    }

    /// A plugin's answer to `describe`: a manifest in JSON, or (binary) the manifest's
    /// JSON text in a binary reply.
    pub(crate) fn manifest(self, bytes: &[u8]) -> Result<Reply<Manifest>, String> {
        match self {
            Encoding::Json => self.answer(bytes),
            Encoding::Binary => match self.answer::<String>(bytes)? {
                Reply::Ok(json) => serde_json::from_str(&json)
                    .map(Reply::Ok)
                    .map_err(|e| format!("answered a manifest that is not the ABI's: {e}")),
                Reply::Error(r) => Ok(Reply::Error(r)),
            },
        }
    }
}
