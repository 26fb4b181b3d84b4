//! What a read returns for one record, stored or virtual: the one shape that the store, the
//! filters and the virtual collections share (so none of them needs another to name it).
use serde::Serialize;
use serde_json::{Map, Value};

/// A record as read: live property values (relations as the related keys, in order) and, when
/// asked for, the values of removed (archived) properties.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordOut {
    pub key: String,
    pub props: Map<String, Value>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub archived: Map<String, Value>,
}
