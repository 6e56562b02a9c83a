//! Parsing of the request-side objects: known fields into their own types, every other
//! field kept in `extra`, so a request forwarded to Target loses nothing.
//!
//! `#[serde(flatten)]` would say the same, but serde implements it by buffering every
//! value of the object into an untyped tree and parsing it a second time, at every
//! level of nesting: for a one-mbox request that was about half of the parse and a
//! quarter of its allocations (perf and `benches/request_allocations.rs`). The visitor
//! made here parses each value once, straight into its field. Serialization still
//! comes from `#[derive(Serialize)]` (flatten costs nothing there), and the field list
//! is checked against the derived OpenAPI schema in the tests.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};

/// An object key: borrowed from the input when it holds no escapes.
pub(crate) struct Key<'de>(pub(crate) Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;

        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }

            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }

        deserializer.deserialize_str(KeyVisitor)
    }
}

/// `impl Deserialize` for a `Default` struct with an `extra: Map<String, Value>` field:
/// each listed field from its wire name, any other into `extra`. A field given twice
/// keeps its last value, as Target's own parser does.
///
/// ```ignore
/// open_object!(Address { url: "url", referring_url: "referringUrl" });
/// ```
macro_rules! open_object {
    ($ty:ident { $($field:ident: $name:literal),* $(,)? }) => {
        impl $ty {
            /// The wire names of the modelled fields (the rest go to `extra`).
            #[cfg(test)]
            pub(crate) const FIELDS: &'static [&'static str] = &[$($name),*];
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct ObjectVisitor;

                impl<'de> serde::de::Visitor<'de> for ObjectVisitor {
                    type Value = $ty;

                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str(concat!("struct ", stringify!($ty)))
                    }

                    fn visit_map<A: serde::de::MapAccess<'de>>(
                        self,
                        mut map: A,
                    ) -> Result<$ty, A::Error> {
                        let mut object = <$ty>::default();
                        while let Some(key) =
                            map.next_key::<$crate::model::open_object::Key<'de>>()?
                        {
                            match &*key.0 {
                                $($name => object.$field = map.next_value()?,)*
                                _ => {
                                    let value = map.next_value()?;
                                    object.extra.insert(key.0.into_owned(), value);
                                }
                            }
                        }
                        Ok(object)
                    }
                }

                deserializer.deserialize_map(ObjectVisitor)
            }
        }
    };
}

pub(crate) use open_object;

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeSet;

    use utoipa::openapi::{RefOr, Schema};

    /// The property names the derived schema (from the serde attributes) gives `T`.
    pub(crate) fn schema_properties<T: utoipa::PartialSchema>() -> BTreeSet<String> {
        match T::schema() {
            RefOr::T(Schema::Object(object)) => object.properties.keys().cloned().collect(),
            _ => panic!("{} has no object schema", std::any::type_name::<T>()),
        }
    }

    /// Every modelled field of `T` is parsed under the name it is serialized with.
    pub(crate) fn fields_match_schema<T: utoipa::PartialSchema>(fields: &[&str]) {
        let listed: BTreeSet<String> = fields.iter().map(|f| f.to_string()).collect();
        assert_eq!(
            listed,
            schema_properties::<T>(),
            "{}",
            std::any::type_name::<T>()
        );
    }
}
