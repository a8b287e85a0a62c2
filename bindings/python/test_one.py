"""A test of the ctypes wrapper: ONE's C ABI from a second language.

Run by `cargo test -p one-ffi` with ONE_LIBRARY pointing at the built library.
"""

import os
import pathlib
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import one  # noqa: E402


def expect_error(name, fn, *args, **keywords):
    try:
        fn(*args, **keywords)
    except one.OneError as e:
        assert e.name == name, f"expected {name}, got {e.name}: {e.message}"
        return e
    raise AssertionError(f"expected {name}, the call succeeded")


def vocabulary(db, acme, ctx):
    """Every operation group through the vocabulary, a batch, and the wrapper's own
    refusals of arguments of the wrong type."""
    names = db.operations()
    assert "create_thing" in names and "tenants" in names and len(names) > 70, names
    shop = db.create_group(ctx, parent=acme["id"], group={"type": "business", "name": "Shop", "slug": "shop"})
    assert shop["parent"] == acme["id"]
    kettle = db.create_thing(ctx, {"type": "gadget", "name": "Kettle", "properties": {"watts": 2000}})
    assert db.get_thing(ctx, id=kettle["id"].encode())["name"] == "Kettle"  # a bytes id
    bob = db.create_person(ctx, email="bob@acme.example", name="Bob")
    owns = db.connect(ctx, from_=bob["id"], type="owns", to=kettle["id"])
    assert owns["from"] == bob["id"]
    db.invite_member(ctx, person=bob["id"], group=shop["id"], role="clerk")
    assert db.can(ctx, permission="members:manage", group=shop["id"]) is True
    db.log_event(ctx, type="boiled", target=kettle["id"])
    assert db.events(ctx, {"type": "boiled"})["items"][0]["target"] == kettle["id"]
    created = db.create_api_key(ctx, name="ci", permissions=["read"])
    assert created["secret"].startswith("ok_live_") and "digest" not in created["key"]
    rotated = db.rotate_api_key(ctx, id=created["key"]["id"])
    assert rotated["key"]["id"] != created["key"]["id"]
    expect_error("ONE_REVOKED", db.check_api_key, ctx, {"key": created["secret"]})
    link = db.magic_link(ctx, group=acme["id"], email="bob@acme.example")
    session = db.sign_in_with_magic_link(ctx, token=link)["session"]
    assert session["person"] == bob["id"]
    split = db.record_revenue(ctx, group=shop["id"], total={"minor": 999, "currency": "EUR"})
    assert split, split
    chunk = db.create_knowledge(ctx, text="kettles boil water", labels=["faq"])
    db.set_knowledge_labels(ctx, id=chunk["id"], labels=["faq", "kettles"])
    assert db.compact_knowledge(ctx) is not None
    assert db.query_knowledge(ctx, text="boiling", k=1)[0]["knowledge"]["id"] == chunk["id"]
    changes = db.changes(ctx, filter={"dimensions": ["things"]}, limit=1)
    assert len(changes["events"]) == 1 and changes["cursor"].startswith("evt_")
    exported = db.execute(ctx, {"export": {"group": shop["id"]}})
    assert "one-export" in exported["text"] and exported["report"]["groups"] == 1
    report = db.execute(ctx, "check")
    assert report["problem_count"] == 0, report

    # A batch: one transaction, later steps naming what earlier ones made.
    lid, fits, again = db.batch(ctx, [
        {"create_thing": {"type": "gadget", "name": "Lid"}},
        {"connect": {"from": one.ref(0), "type": "fits", "to": kettle["id"]}},
        {"get_thing": {"id": one.ref(0)}},
    ])
    assert fits["from"] == lid["id"] and again == lid
    e = expect_error("ONE_MISSING_FIELD", db.batch, ctx, [
        {"create_thing": {"type": "gadget", "name": "Ghost"}},
        {"create_thing": {"type": "gadget", "name": ""}},
    ])
    assert e.message.startswith("step 1:"), e.message
    assert not [t for t in db.things(ctx, {"type": "gadget", "limit": 100})["items"] if t["name"] == "Ghost"]

    # The wrapper's own refusals: its error, never AttributeError, TypeError or a
    # silently truncated text.
    expect_error("ONE_INVALID", db.get_thing, "not a context", id=kettle["id"])
    expect_error("ONE_INVALID", db.thing_get, None, kettle["id"])
    expect_error("ONE_INVALID", db.thing_get, ctx, None)
    expect_error("ONE_INVALID", db.thing_get, ctx, 42)
    expect_error("ONE_INVALID", db.thing_get, ctx, kettle["id"] + "\0tail")
    expect_error("ONE_INVALID", db.thing_create, ctx, {"type": "gadget", "name": float("nan")})
    expect_error("ONE_INVALID", db.thing_create, ctx, {"type": "gadget", "name": object()})
    expect_error("ONE_INVALID", db.plugin_install, ctx, "not bytes")
    expect_error("ONE_INVALID", db.tenants, ctx, {"unexpected": 1})
    expect_error("ONE_INVALID", db.batch, ctx, "not a list")
    expect_error("ONE_INVALID", db.execute, ctx, {"launch_rockets": {}})
    expect_error("ONE_MALFORMED_ID", db.get_thing, ctx, id="thg_short")
    expect_error("ONE_PLATFORM_ONLY", db.tenants, db.person(bob["id"], acme["id"]))
    try:
        db.no_such_operation
    except AttributeError:
        pass
    else:
        raise AssertionError("an unknown operation is an AttributeError")


def main():
    lib = one.load()
    assert lib.one_version().decode() == "0.1.0"
    folder = os.path.join(os.environ.get("ONE_TEST_DIR", "."), "py")
    path = os.path.join(folder, "one.redb")
    with one.Database.open(path) as db:
        acme = db.tenant_create({"type": "organization", "name": "Acme", "slug": "acme"})
        ctx = db.system(acme["id"])
        alice = db.person_create(ctx, {"email": "alice@acme.example", "name": "Alice"})
        db.member_add(ctx, {"person": alice["id"], "group": acme["id"], "role": "viewer",
                            "permissions": ["things:read"]})
        mug = db.thing_create(ctx, {"type": "product", "name": "Mug",
                                    "properties": {"price": 1200, "tags": ["a", "é"]}})
        assert mug["properties"] == {"price": 1200, "tags": ["a", "é"]}
        db.thing_create(ctx, {"type": "product", "name": "Lamp", "properties": {"price": 9000}})
        cheap = db.things(ctx, {"type": "product", "filter": {"properties.price": {"$lt": 2000}}})
        assert [t["name"] for t in cheap["items"]] == ["Mug"], cheap
        db.connection_create(ctx, {"from": alice["id"], "type": "purchased", "to": mug["id"]})
        assert db.connections(ctx, {"node": alice["id"], "type": "purchased"})["items"][0]["to"] == mug["id"]
        events = db.events(ctx)["items"]
        assert events[0]["type"] == "connection_created", events[0]

        as_alice = db.person(alice["id"], acme["id"])
        assert db.thing_get(as_alice, mug["id"])["name"] == "Mug"
        e = expect_error("ONE_FORBIDDEN", db.thing_create, as_alice, {"type": "product", "name": "X"})
        assert "things:write" in e.message
        expect_error("ONE_WRONG_ID_KIND", db.thing_get, ctx, acme["id"])
        expect_error("ONE_INVALID", db.thing_create, ctx, {"type": "product"})
        expect_error("ONE_INVALID_FIELD", db.thing_create, ctx, {"type": "Bad Type", "name": "x"})
        as_alice.close()
        expect_error("ONE_MISUSE", db.thing_get, as_alice, mug["id"])

        feed = db.subscribe(ctx, {"dimensions": ["things"]})
        assert feed.next() is None
        lamp = db.thing_create(ctx, {"type": "product", "name": "Desk lamp"})
        change = feed.next(1000)
        assert change["type"] == "thing_created" and change["target"] == lamp["id"], change
        assert feed.cursor() == change["id"]
        feed.close()
        expect_error("ONE_MISUSE", feed.next)
        db.knowledge_create(ctx, {"text": "Mugs are washed by hand."})
        hits = db.knowledge_search(ctx, {"text": "washing mugs", "k": 1})
        assert "washed" in hits[0]["knowledge"]["text"]
        vocabulary(db, acme, ctx)
        ctx.close()

    # Reopened, the data is there.
    with one.Database.open(pathlib.Path(path)) as db:  # a PathLike path
        ctx = db.system(acme["id"])
        assert db.thing_get(ctx, mug["id"])["properties"]["price"] == 1200
        assert db.check()["ok"]
        assert db.backup(os.path.join(folder, "copy.redb")) > 0
        export = os.path.join(folder, "acme.jsonl")
        exported = db.export(ctx, acme["id"], export)
        ctx.close()
    # Read-only: reads work, writes are refused, a file of another kind is named.
    with one.Database.open_read_only(path) as ro:
        ctx = ro.system(acme["id"])
        assert ro.thing_get(ctx, mug["id"])["name"] == "Mug"
        expect_error("ONE_READ_ONLY", ro.thing_create, ctx, {"type": "note", "name": "no"})
        ctx.close()
    expect_error("ONE_NOT_A_DATABASE", one.Database.open, export)
    with one.Database.memory() as moved:
        assert moved.import_from(export)["things"] == exported["things"]
        assert moved.check()["problem_count"] == 0
        expect_error("ONE_INVALID_FIELD", moved.import_from, export)
    print("python: ok")


if __name__ == "__main__":
    main()
