//! Example plugin `tickets`: things of type `event_ticket`, with a tier, a quantity and a
//! computed `total` (price × quantity, less the tier's discount, in cents).

use one_plugin_sdk::{Field, Manifest, Plugin, Prepare, Properties, Rejection, TypeSchema, Value};

/// The plugin.
pub struct Tickets;

/// The discount of a tier, in percent.
fn discount(tier: &str) -> Option<i64> {
    match tier {
        "general" => Some(0),
        "student" => Some(50),
        "vip" => Some(0),
        _ => None,
    }
}

impl Plugin for Tickets {
    fn manifest() -> Manifest {
        Manifest {
            name: "tickets".into(),
            version: "1.0.0".into(),
            types: vec![
                TypeSchema::new("event_ticket", "Admission to an event.")
                    .field(
                        Field::string("event")
                            .required()
                            .describe("What it admits to."),
                    )
                    .field(
                        Field::integer("price_cents")
                            .required()
                            .min(0.0)
                            .describe("Price of one ticket, in cents."),
                    )
                    .field(Field::integer("quantity").required().min(1.0).max(100.0))
                    .field(
                        Field::string("tier")
                            .required()
                            .one_of(["general", "student", "vip"]),
                    )
                    .field(
                        Field::integer("total_cents")
                            .required()
                            .computed()
                            .indexed()
                            .describe("price × quantity, less the tier's discount."),
                    ),
            ],
            reacts: false,
        }
    }

    fn prepare(input: Prepare) -> Result<Properties, Rejection> {
        let mut props = input.properties;
        let tier = props
            .get("tier")
            .and_then(Value::as_str)
            .unwrap_or("general")
            .trim()
            .to_ascii_lowercase();
        let off = discount(&tier)
            .ok_or_else(|| Rejection::field("tier", format!("unknown tier {tier:?}")))?;
        props.insert("tier".into(), tier.into());
        let quantity = props.get("quantity").map_or(Some(1), Value::as_i64);
        let quantity =
            quantity.ok_or_else(|| Rejection::field("quantity", "must be a whole number"))?;
        props.insert("quantity".into(), quantity.into());
        let price = props
            .get("price_cents")
            .and_then(Value::as_i64)
            .ok_or_else(|| Rejection::field("price_cents", "must be a whole number of cents"))?;
        let total = price
            .checked_mul(quantity)
            .map(|t| t - t * off / 100)
            .ok_or_else(|| Rejection::field("price_cents", "the total overflows"))?;
        props.insert("total_cents".into(), total.into());
        Ok(props)
    }
}

one_plugin_sdk::export_plugin!(Tickets);
