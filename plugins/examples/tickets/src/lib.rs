//! Example plugin `tickets`: things of type `event_ticket`, with a tier, a quantity and a
//! computed `total` (price × quantity, less the tier's discount, in cents), and things of
//! type `show`. A ticket may name the `show` it admits to: the plugin checks, by reading
//! it through the host, that it is an active show the caller can see, and copies its
//! name into the computed `show_name`. It also declares the connection type `holds`
//! (a person holds a ticket, at a seat) and the event type `ticket_scanned` (at a gate).

use one_plugin_sdk::{
    ConnectionSchema, EventSchema, Field, Manifest, Plugin, Prepare, Properties, Rejection,
    TypeSchema, Value, host,
};

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
            version: "1.1.0".into(),
            types: vec![
                TypeSchema::new("event_ticket", "Admission to an event.")
                    .field(
                        Field::string("event")
                            .required()
                            .describe("What it admits to."),
                    )
                    .field(
                        Field::string("show")
                            .describe("The id of the `show` it admits to, if it names one."),
                    )
                    .field(
                        Field::string("show_name")
                            .computed()
                            .describe("The name of its show, copied when it is written."),
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
                TypeSchema::new("show", "A performance tickets admit to.")
                    .field(Field::string("venue").describe("Where it takes place.")),
            ],
            connections: vec![
                ConnectionSchema::new("holds", "A person holds a ticket.")
                    .from(["person"])
                    .to(["event_ticket"])
                    .field(Field::string("seat").required().max_length(8)),
            ],
            events: vec![
                EventSchema::new("ticket_scanned", "A ticket was scanned at a gate.")
                    .field(Field::string("gate").required().max_length(16)),
            ],
            reacts: false,
            // To read the show a ticket names.
            permissions: vec!["things:read".into()],
        }
    }

    fn prepare(input: Prepare) -> Result<Properties, Rejection> {
        match input.kind.as_str() {
            "show" => Ok(input.properties),
            _ => prepare_ticket(input),
        }
    }
}

fn prepare_ticket(input: Prepare) -> Result<Properties, Rejection> {
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
    let show = props
        .get("show")
        .and_then(Value::as_str)
        .map(str::to_string);
    match show {
        Some(id) => {
            let name = check_show(&id)?;
            props.insert("show_name".into(), name.into());
        }
        None => {
            props.remove("show_name");
        }
    }
    Ok(props)
}

/// Reads the show `id` and checks a ticket may name it: it exists, the caller can see it,
/// it is a show, and it has not been archived. Returns its name.
fn check_show(id: &str) -> Result<String, Rejection> {
    let show = host::get_thing(id)
        .map_err(|r| Rejection::field("show", r.message))?
        .ok_or_else(|| Rejection::field("show", format!("there is no show {id} you can see")))?;
    if show.kind != "show" {
        return Err(Rejection::field(
            "show",
            format!("{id} is a {}, not a show", show.kind),
        ));
    }
    if show.status != "active" {
        return Err(Rejection::field(
            "show",
            format!("{} is {}: it sells no tickets", show.name, show.status),
        ));
    }
    Ok(show.name)
}

one_plugin_sdk::export_plugin!(Tickets);
