"""A test of the ctypes wrapper: ONE's C ABI from a second language.

Run by `cargo test -p one-ffi` with ONE_LIBRARY pointing at the built library.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import one  # noqa: E402


def expect_error(name, fn, *args):
    try:
        fn(*args)
    except one.OneError as e:
        assert e.name == name, f"expected {name}, got {e.name}: {e.message}"
        return e
    raise AssertionError(f"expected {name}, the call succeeded")


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
        ctx.close()

    # Reopened, the data is there.
    with one.Database.open(path) as db:
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
