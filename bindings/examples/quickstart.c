/*
 * quickstart.c: the README's quickstart, in C.
 *
 *   cargo build -p one-ffi
 *   cc -std=c11 -Ibindings/include bindings/examples/quickstart.c \
 *      -Ltarget/debug -Wl,-rpath,$PWD/target/debug -lone_ffi -o quickstart
 *   ./quickstart one-data/quickstart.redb
 */
#include "one.h"

#include <stdio.h>
#include <string.h>

/* Stops with the failing call's status and message. */
#define TRY(call)                                                                  \
    do {                                                                           \
        int status_ = (call);                                                      \
        if (status_ != ONE_OK) {                                                   \
            fprintf(stderr, "%s: %s: %s\n", #call, one_errstr(status_),            \
                    one_last_error_message());                                     \
            return 1;                                                              \
        }                                                                          \
    } while (0)

/* Copies the string value of the first "key" in `json` into `buf`. */
static const char *field(const char *json, const char *key, char *buf, size_t size) {
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\":\"", key);
    const char *at = strstr(json, pattern);
    size_t n = 0;
    if (at) {
        at += strlen(pattern);
        while (at[n] && at[n] != '"' && n + 1 < size) n++;
        memcpy(buf, at, n);
    }
    buf[n] = '\0';
    return buf;
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "one-data/quickstart.redb";
    one_db *db = NULL;
    one_ctx *ctx = NULL, *as_alice = NULL;
    char *json = NULL;
    char acme[64], alice[64], mug[64], request[512];

    TRY(one_open(path, &db));
    TRY(one_tenant_create(db, "{\"type\":\"organization\",\"name\":\"Acme\",\"slug\":\"acme\"}", &json));
    field(json, "id", acme, sizeof acme);
    one_string_free(json);
    TRY(one_ctx_system(acme, &ctx)); /* who acts, and in which group */

    TRY(one_person_create(db, ctx, "{\"email\":\"alice@acme.example\",\"name\":\"Alice\"}", &json));
    field(json, "id", alice, sizeof alice);
    one_string_free(json);
    snprintf(request, sizeof request,
             "{\"person\":\"%s\",\"group\":\"%s\",\"role\":\"group_owner\",\"permissions\":[\"*\"]}",
             alice, acme);
    TRY(one_member_add(db, ctx, request, &json));
    one_string_free(json);
    TRY(one_thing_create(db, ctx, "{\"type\":\"product\",\"name\":\"Mug\",\"properties\":{\"price\":1200}}", &json));
    field(json, "id", mug, sizeof mug);
    one_string_free(json);
    snprintf(request, sizeof request, "{\"from\":\"%s\",\"type\":\"purchased\",\"to\":\"%s\"}", alice, mug);
    TRY(one_connection_create(db, ctx, request, &json));
    one_string_free(json);

    /* Alice reads what her memberships allow. */
    TRY(one_ctx_person(alice, acme, &as_alice));
    TRY(one_things(db, as_alice, "{\"type\":\"product\",\"filter\":{\"properties.price\":{\"$lt\":2000}}}", &json));
    printf("products under 20.00: %s\n", json);
    one_string_free(json);
    TRY(one_events(db, as_alice, "{\"limit\":3}", &json));
    printf("latest events: %s\n", json);
    one_string_free(json);

    /* Bad input gets a status and a message, never a crash. */
    int status = one_thing_get(db, as_alice, acme, &json);
    printf("reading a group id as a thing: %s: %s\n", one_errstr(status), one_last_error_message());

    TRY(one_ctx_free(as_alice));
    TRY(one_ctx_free(ctx));
    TRY(one_close(db));
    return 0;
}
