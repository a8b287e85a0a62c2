//! Example plugin `product`: things of type `product` with a price, an ISO currency, a
//! stock count and a SKU, normalised and checked; a `low_stock` event (a type it declares)
//! when stock runs low.

use one_plugin_sdk::{
    Action, Change, EventSchema, Field, Manifest, Plugin, Prepare, Properties, Rejection,
    TypeSchema, Value,
};

/// Stock at or below this logs `low_stock`.
pub const LOW_STOCK: i64 = 5;

/// The plugin.
pub struct Product;

fn upper_trimmed(props: &Properties, key: &str) -> Option<String> {
    props
        .get(key)
        .and_then(Value::as_str)
        .map(|s| s.trim().to_ascii_uppercase())
}

impl Plugin for Product {
    fn manifest() -> Manifest {
        Manifest {
            name: "product".into(),
            version: "1.0.0".into(),
            types: vec![
                TypeSchema::new("product", "Something for sale, with a price and a stock.")
                    .field(
                        Field::number("price")
                            .required()
                            .min(0.0)
                            .indexed()
                            .describe("Unit price in `currency`."),
                    )
                    .field(
                        Field::string("currency")
                            .required()
                            .max_length(3)
                            .describe("ISO 4217 code, upper case."),
                    )
                    .field(Field::integer("stock").required().min(0.0))
                    .field(
                        Field::string("sku")
                            .required()
                            .max_length(32)
                            .describe("Stock keeping unit: A-Z, 0-9 and `-`."),
                    ),
            ],
            reacts: true,
            events: vec![
                EventSchema::new("low_stock", "A product's stock fell to the low mark.").field(
                    Field::integer("stock")
                        .required()
                        .min(0.0)
                        .describe("The stock left."),
                ),
            ],
            // To log `low_stock` from its reaction.
            permissions: vec!["events:write".into()],
            ..Manifest::default()
        }
    }

    fn prepare(input: Prepare) -> Result<Properties, Rejection> {
        let mut props = input.properties;
        let currency = upper_trimmed(&props, "currency").unwrap_or_else(|| "USD".into());
        if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(Rejection::field(
                "currency",
                format!("{currency:?} is not an ISO 4217 code (three letters)"),
            ));
        }
        props.insert("currency".into(), currency.into());
        let sku =
            upper_trimmed(&props, "sku").ok_or_else(|| Rejection::field("sku", "is required"))?;
        if sku.len() < 3 || !sku.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(Rejection::field(
                "sku",
                format!("{sku:?} must be 3 to 32 of A-Z, 0-9 and `-`"),
            ));
        }
        props.insert("sku".into(), sku.into());
        props.entry("stock").or_insert(Value::from(0));
        Ok(props)
    }

    fn react(change: Change) -> Vec<Action> {
        let stock = change.properties.get("stock").and_then(Value::as_i64);
        match stock {
            Some(stock) if change.event != "thing_deleted" && stock <= LOW_STOCK => {
                let mut data = Properties::new();
                data.insert("stock".into(), stock.into());
                vec![Action::LogEvent {
                    kind: "low_stock".into(),
                    data,
                }]
            }
            _ => Vec::new(),
        }
    }
}

one_plugin_sdk::export_plugin!(Product);
