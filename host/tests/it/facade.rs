//! The facade's own calls: closures with the application's error type, and the read view
//! named in a helper.

use one::*;

#[derive(Debug)]
enum AppError {
    Engine(one::Error),
    Rejected(&'static str),
}

impl From<one::Error> for AppError {
    fn from(e: one::Error) -> Self {
        AppError::Engine(e)
    }
}

fn shop() -> (Ontology, Context) {
    let db = Ontology::in_memory().unwrap();
    let shop = db
        .admin()
        .create_root_group(NewGroup::new(GroupType::Business, "Shop", "shop"))
        .unwrap();
    (db, Context::system(shop.id))
}

fn orders(v: &ReadView<'_>) -> Result<usize> {
    Ok(v.things(&ThingQuery::of_type("order"))?.items.len())
}

#[test]
fn an_application_error_rolls_the_write_back_and_comes_back_as_it_was() {
    let (db, ctx) = shop();
    let r = db.write_with(&ctx, |tx| {
        tx.create_thing(NewThing::new("order", "#1"))?;
        Err::<(), _>(AppError::Rejected("out of stock"))
    });
    assert!(
        matches!(r, Err(AppError::Rejected("out of stock"))),
        "{r:?}"
    );
    assert_eq!(db.read(&ctx, orders).unwrap(), 0);
}

#[test]
fn an_engine_error_converts_into_the_application_error() {
    let (db, ctx) = shop();
    let r = db.write_with(&ctx, |tx| -> std::result::Result<(), AppError> {
        tx.create_thing(NewThing::new("order", "#1"))?;
        tx.create_thing(NewThing::new("Not A Type", "x"))?;
        Ok(())
    });
    assert!(
        matches!(r, Err(AppError::Engine(Error::InvalidField { .. }))),
        "{r:?}"
    );
    assert_eq!(db.read(&ctx, orders).unwrap(), 0);
}

#[test]
fn an_ok_closure_commits_and_reads_with_the_application_error() {
    let (db, ctx) = shop();
    let id = db
        .write_with(&ctx, |tx| {
            Ok::<_, AppError>(tx.create_thing(NewThing::new("order", "#1"))?.id)
        })
        .unwrap();
    let name = db
        .read_with(&ctx, |v| -> std::result::Result<String, AppError> {
            let t = v.get_thing(id)?;
            if t.name.is_empty() {
                return Err(AppError::Rejected("unnamed"));
            }
            Ok(t.name)
        })
        .unwrap();
    assert_eq!(name, "#1");
    let missing = db.read_with(&ctx, |v| -> std::result::Result<Thing, AppError> {
        Ok(v.get_thing(ThingId::from_u128(1))?)
    });
    assert!(
        matches!(missing, Err(AppError::Engine(Error::NotFound { .. }))),
        "{missing:?}"
    );
}
