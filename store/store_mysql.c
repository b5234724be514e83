/* SPDX-License-Identifier: MIT */
/*
 * store_mysql.c - the MySQL/MariaDB engine of store.h, for production and for
 * several relays sharing one database ("mysql://USER:PASS@HOST:PORT/DB" or
 * "mysql://USER:PASS@/DB?socket=PATH"; the options are in store.h).
 *
 * Every statement that carries data is a server-side prepared statement,
 * prepared once per connection and re-prepared after a reconnect; only fixed
 * text (START TRANSACTION, session settings, the compiled-in schema) goes
 * through mysql_real_query. Claims lock due rows with SELECT ... FOR UPDATE
 * SKIP LOCKED, so concurrent claims by several relays never take the same
 * message and never wait for each other. The schema is applied only by
 * mr_store_mysql_migrate(); open refuses a database that is not current.
 *
 * Threads: a handle is one connection owned by one thread. The client library
 * is initialised once (pthread_once) and ended at exit (atexit).
 * Errors: a lost or refused connection is MR_EUNAVAIL ("mysql: database
 * unavailable: ..."); the handle connects again at the next use outside a
 * transaction. A deadlock or lock-wait timeout is MR_EBUSY, after which the
 * open transaction is spoilt: every call but rollback fails until it is
 * rolled back. Other failures are MR_ESTORE "mysql: <server text>".
 * Transaction retries belong to the callers, who own the transactions.
 */
#include "store/store_int.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <errmsg.h>
#include <mysql.h>
#include <mysqld_error.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/mem.h"

/* URI option defaults, seconds */
#define DEFAULT_CONNECT_TIMEOUT 3
#define DEFAULT_RW_TIMEOUT      30
#define DEFAULT_LOCK_WAIT       10

/* Rows per multi-row step INSERT; a message with more steps takes several. */
#define STEP_CHUNK  16
#define STEP_PARAMS 10

/* Ids per "IN (...)" statement of the claim; a short chunk repeats its last id. */
#define IN_CHUNK 64

/* Parameters of one message row of a (multi-row) msg INSERT. */
#define MSG_PARAMS 21

/*
 * The row counts of the batch statements (store.h "batches"), largest first:
 * each is prepared once per connection at its first use. An "IN (...)" list
 * takes the smallest count that holds what is left and repeats its last item
 * to fill it: in_list(). (A multi-row INSERT has a statement for its exact
 * row count: multi_stmt().)
 */
static const size_t batch_sizes[] = {MR_STORE_BATCH_CHUNK, 16, 4, 1};
#define NBATCH (sizeof(batch_sizes) / sizeof(batch_sizes[0]))

#define MAX_PARAMS (MR_STORE_BATCH_CHUNK * MSG_PARAMS)
#define MAX_COLS   24

/* The msg columns every message query returns, and their kinds ('i' integer, 's' string). */
#define MSG_COLS                                                                                   \
    "id, gid, state, query_prepared, protocol, custom_data, branch_headers, concurrent, "          \
    "wait_result, timeout_to_fail, retry_interval, request_timeout, delay, create_time, "          \
    "update_time, finish_time, rollback_time, next_cron_time, next_cron_interval, owner, "         \
    "lease_until, result"
#define MSG_LAYOUT                                                                                 \
    "issssss"                                                                                      \
    "iiiiiiiiiiii"                                                                                 \
    "sis"

/* The step columns, the message id first. */
#define STEP_COLS                                                                                  \
    "msg_id, id, branch_id, url, payload, state, attempts, last_error, create_time, "              \
    "update_time, finish_time"
#define STEP_LAYOUT "iissssisiii"

#define UNFINISHED "state IN ('prepared', 'submitted')"

/* Due and not leased at (now, now). due_time is NULL for final messages (see the schema). */
#define DUE "due_time <= ? AND lease_until <= ?"

/* One message row's placeholders in a msg INSERT (MSG_PARAMS), and one step row's. */
#define MSG_ROW  "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
#define STEP_ROW "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"

/* Replaced by IN_CHUNK placeholders when the statement is prepared. */
#define IN_LIST "(#)"

/* The tail shared by the three list statements: position, create range, limit. */
#define LIST_TAIL " AND id < ? AND create_time >= ? AND create_time <= ? ORDER BY id DESC LIMIT ?"

/* The kv columns and their kinds. */
#define KV_COLS   "id, cat, k, v, version, create_time, update_time"
#define KV_LAYOUT "isssiii"

/* The relay_registry columns and their kinds. */
#define RELAY_COLS   "relay_id, instance, host, machine, pid, pid_start, started_time, heartbeat_until"
#define RELAY_LAYOUT "ssssiiii"

/* X(id, sql): every fixed statement a connection prepares. Parameters are in order. */
#define STMT_LIST(X)                                                                               \
    X(ST_MSG_BY_GID, "SELECT " MSG_COLS " FROM msg WHERE gid = ?")                                 \
    X(ST_STEPS, "SELECT " STEP_COLS " FROM step WHERE msg_id = ? ORDER BY id")                     \
    /* msg_id order comes from step_branch; my_load_steps_in() puts each message's in id order */ \
    X(ST_STEPS_IN, "SELECT " STEP_COLS " FROM step WHERE msg_id IN " IN_LIST " ORDER BY msg_id")   \
    X(ST_MSG_INSERT,                                                                               \
      "INSERT INTO msg (gid, state, query_prepared, protocol, custom_data, branch_headers, "       \
      "concurrent, wait_result, timeout_to_fail, retry_interval, request_timeout, delay, "         \
      "create_time, update_time, finish_time, rollback_time, next_cron_time, "                     \
      "next_cron_interval, result, owner, lease_until) VALUES " MSG_ROW)                           \
    X(ST_MSG_DELETE, "DELETE FROM msg WHERE id = ?")                                               \
    X(ST_STEP_IDS, "SELECT id FROM step WHERE msg_id = ? ORDER BY id")                             \
    X(ST_TRANSITION,                                                                               \
      "UPDATE msg SET state = ?, update_time = ?, "                                                \
      "finish_time = IF(?, ?, finish_time), rollback_time = IF(?, ?, rollback_time), "             \
      "next_cron_time = IF(?, ?, next_cron_time), "                                                \
      "next_cron_interval = IF(?, ?, next_cron_interval), "                                        \
      "owner = IF(?, ?, owner), lease_until = IF(?, ?, lease_until) "                              \
      "WHERE gid = ? AND state = ?")                                                               \
    X(ST_MSG_STATE, "SELECT state FROM msg WHERE gid = ?")                                         \
    X(ST_SCHEDULE, "UPDATE msg SET next_cron_time = ?, "                                           \
                   "next_cron_interval = IF(?, ?, next_cron_interval), update_time = ? "           \
                   "WHERE gid = ? AND " UNFINISHED)                                                \
    X(ST_CLAIM, "SELECT " MSG_COLS " FROM msg WHERE " DUE                                          \
                " ORDER BY due_time LIMIT ? FOR UPDATE SKIP LOCKED")                               \
    X(ST_LEASE_IN, "UPDATE msg SET owner = ?, lease_until = ? WHERE id IN " IN_LIST)               \
    X(ST_STEP_RECORD, "UPDATE step SET attempts = attempts + 1, update_time = ?, "                 \
                      "state = IF(?, 'succeed', state), finish_time = IF(?, ?, finish_time), "     \
                      "last_error = IF(?, last_error, ?) WHERE id = ? "                            \
                      "AND EXISTS (SELECT 1 FROM msg WHERE msg.id = step.msg_id "                  \
                      "AND msg.state = 'submitted')")                                              \
    X(ST_STEP_EXISTS, "SELECT id FROM step WHERE id = ?")                                          \
    X(ST_RELEASE, "UPDATE msg SET owner = '', lease_until = 0, next_cron_time = ?, "               \
                  "next_cron_interval = IF(?, ?, next_cron_interval), "                            \
                  "result = COALESCE(?, result), update_time = ? "                                 \
                  "WHERE gid = ? AND owner = ? AND " UNFINISHED)                                   \
    /* leases are held on unfinished messages only: msg_due finds them (no owner index) */         \
    X(ST_RELEASE_OWNER, "UPDATE msg SET owner = '', lease_until = 0 "                              \
                        "WHERE due_time IS NOT NULL AND owner = ? AND owner <> ''")                \
    X(ST_COUNT_DUE, "SELECT COUNT(*) FROM msg WHERE " DUE)                                         \
    X(ST_LIST_GID,                                                                                 \
      "SELECT " MSG_COLS " FROM msg WHERE gid = ? AND (? = '' OR state = ?)" LIST_TAIL)            \
    X(ST_LIST_STATE, "SELECT " MSG_COLS " FROM msg WHERE state = ?" LIST_TAIL)                     \
    X(ST_LIST_ALL, "SELECT " MSG_COLS " FROM msg WHERE 1 = 1" LIST_TAIL)                          \
    X(ST_KV_GET, "SELECT " KV_COLS " FROM kv WHERE cat = ? AND k = ?")                             \
    X(ST_KV_SCAN, "SELECT " KV_COLS " FROM kv WHERE cat = ? AND id < ? ORDER BY id DESC LIMIT ?")  \
    X(ST_KV_INSERT, "INSERT INTO kv (cat, k, v, version, create_time, update_time) "               \
                    "VALUES (?, ?, ?, 1, ?, ?)")                                                   \
    X(ST_KV_UPDATE, "UPDATE kv SET v = ?, version = version + 1, update_time = ? "                 \
                    "WHERE id = ? AND version = ?")                                                \
    X(ST_KV_DELETE, "DELETE FROM kv WHERE cat = ? AND k = ?")                                      \
    X(ST_RELAY_GET, "SELECT " RELAY_COLS " FROM relay_registry WHERE relay_id = ? FOR UPDATE")    \
    X(ST_RELAY_INSERT, "INSERT INTO relay_registry (" RELAY_COLS ") "                              \
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?)")                                          \
    X(ST_RELAY_REPLACE, "UPDATE relay_registry SET instance = ?, host = ?, machine = ?, "          \
                        "pid = ?, pid_start = ?, started_time = ?, heartbeat_until = ? "           \
                        "WHERE relay_id = ? AND instance = ?")                                     \
    X(ST_RELAY_HEARTBEAT, "UPDATE relay_registry SET heartbeat_until = ? "                         \
                          "WHERE relay_id = ? AND instance = ?")                                   \
    X(ST_RELAY_DELETE, "DELETE FROM relay_registry WHERE relay_id = ? AND instance = ?")

enum stmt_id {
#define STMT_ENUM(id, sql) id,
    STMT_LIST(STMT_ENUM)
#undef STMT_ENUM
        ST_COUNT
};

static const char *const stmt_sql[] = {
#define STMT_SQL(id, sql) sql,
    STMT_LIST(STMT_SQL)
#undef STMT_SQL
};

/*
 * X(id, head, item, tail): the batch statements. The text is head, then item
 * k times joined by ", ", then tail, for each k of batch_sizes[]. Parameters
 * in text order: those of head, then k items', then tail's.
 */
#define MULTI_LIST(X)                                                                              \
    X(MT_GET, "SELECT " MSG_COLS " FROM msg WHERE gid IN (", "?", ") FOR UPDATE")                  \
    X(MT_MSG_INSERT,                                                                               \
      "INSERT INTO msg (gid, state, query_prepared, protocol, custom_data, branch_headers, "       \
      "concurrent, wait_result, timeout_to_fail, retry_interval, request_timeout, delay, "         \
      "create_time, update_time, finish_time, rollback_time, next_cron_time, "                     \
      "next_cron_interval, result, owner, lease_until) VALUES ",                                   \
      MSG_ROW, "")                                                                                 \
    X(MT_STEP_INSERT,                                                                              \
      "INSERT INTO step (msg_id, branch_id, url, payload, state, attempts, "                       \
      "last_error, create_time, update_time, finish_time) VALUES ",                                \
      STEP_ROW, "")                                                                                \
    X(MT_IDS_BY_GID, "SELECT id, gid FROM msg WHERE gid IN (", "?", ")")                           \
    X(MT_STEP_IDS, "SELECT msg_id, id FROM step WHERE msg_id IN (", "?", ") ORDER BY msg_id, id")  \
    X(MT_LOCK_STATE, "SELECT gid FROM msg WHERE state = ? AND gid IN (", "?", ") FOR UPDATE")      \
    X(MT_TRANSITION,                                                                               \
      "UPDATE msg SET state = ?, update_time = ?, "                                                \
      "finish_time = IF(?, ?, finish_time), rollback_time = IF(?, ?, rollback_time), "             \
      "next_cron_time = IF(?, ?, next_cron_time), "                                                \
      "next_cron_interval = IF(?, ?, next_cron_interval), "                                        \
      "owner = IF(?, ?, owner), lease_until = IF(?, ?, lease_until) "                              \
      "WHERE state = ? AND gid IN (",                                                              \
      "?", ")")                                                                                    \
    X(MT_STEPS_OK,                                                                                 \
      "UPDATE step SET attempts = attempts + 1, update_time = ?, state = 'succeed', "              \
      "finish_time = ? WHERE EXISTS (SELECT 1 FROM msg WHERE msg.id = step.msg_id "                \
      "AND msg.state = 'submitted') AND id IN (",                                                  \
      "?", ")")                                                                                    \
    X(MT_STEPS_LIVE,                                                                               \
      "SELECT step.id FROM step JOIN msg ON msg.id = step.msg_id "                                 \
      "WHERE msg.state = 'submitted' AND step.id IN (",                                            \
      "?", ")")                                                                                    \
    X(MT_STEPS_EXIST, "SELECT id FROM step WHERE id IN (", "?", ")")                               \
    X(MT_RELEASE,                                                                                  \
      "UPDATE msg SET owner = '', lease_until = 0, next_cron_time = ?, "                           \
      "next_cron_interval = IF(?, ?, next_cron_interval), "                                        \
      "result = COALESCE(?, result), update_time = ? "                                             \
      "WHERE owner = ? AND " UNFINISHED " AND gid IN (",                                           \
      "?", ")")

enum multi_id {
#define MULTI_ENUM(id, head, item, tail) id,
    MULTI_LIST(MULTI_ENUM)
#undef MULTI_ENUM
        MT_COUNT
};

static const struct multi_sql {
    const char *head;
    const char *item;
    const char *tail;
} multi_sql[] = {
#define MULTI_SQL(id, head, item, tail) {head, item, tail},
    MULTI_LIST(MULTI_SQL)
#undef MULTI_SQL
};

/* One parsed store URI. Strings owned; host is NULL when a socket is given. */
struct my_conf {
    char *user;
    char *pass;
    char *host;
    char *db;
    char *socket;
    char *where; /* "host:port" or the socket path, for messages (never the password) */
    unsigned int port;
    unsigned int connect_timeout;
    unsigned int rw_timeout;
    unsigned int lock_wait;
};

/*
 * The parameters of the next statement. Values are copied (integers) or
 * borrowed (strings, which must outlive the execute).
 */
struct params {
    MYSQL_BIND b[MAX_PARAMS];
    long long v[MAX_PARAMS];
    unsigned long len[MAX_PARAMS];
    unsigned int n;
};

/* The current row of a result: integers in v, strings fetched into s (owned until taken). */
struct row {
    MYSQL_BIND b[MAX_COLS];
    long long v[MAX_COLS];
    unsigned long len[MAX_COLS];
    my_bool null[MAX_COLS];
    my_bool trunc[MAX_COLS];
    char *s[MAX_COLS];
    const char *layout;
    unsigned int n;
};

/*
 * A MySQL handle: the store.h header first (whose in_tx says whether a
 * transaction is open). db is NULL while disconnected; broken marks a
 * connection that failed and is torn down at the next connect. tx_lost marks
 * a transaction the server rolled back (deadlock, lock-wait timeout, lost
 * connection): only rollback clears it.
 */
struct my_store {
    struct mr_store base;
    struct my_conf conf;
    MYSQL *db;
    bool broken;
    bool tx_lost;
    bool ids_consecutive; /* a multi-row INSERT gets consecutive auto-increment ids */
    int64_t id_step;      /* @@auto_increment_increment */
    MYSQL_STMT *st[ST_COUNT];
    MYSQL_STMT *ins[STEP_CHUNK + 1]; /* multi-row step INSERTs by row count, prepared on demand */
    MYSQL_STMT *mt[MT_COUNT][NBATCH]; /* batch statements by batch_sizes[], prepared on demand */
    /* multi-row msg ([0]) and step ([1]) INSERTs of exactly k rows, prepared on demand */
    MYSQL_STMT *rows[2][MR_STORE_BATCH_CHUNK + 1];
    struct params p;
    struct row row;
};

/* my - the MySQL handle behind @s. */
static struct my_store *my(struct mr_store *s)
{
    return (struct my_store *)s;
}

/* ---- the client library ---- */

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;

static void lib_end(void)
{
    mysql_library_end();
}

/* lib_init_once - mysql_library_init before any thread's mysql_init (it is not thread-safe). */
static void lib_init_once(void)
{
    if (mysql_library_init(0, NULL, NULL) == 0)
        atexit(lib_end);
}

/* ---- the URI ---- */

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* decode - a copy of the @n bytes at @p with %XX decoded; NULL on a bad escape or %00. */
static char *decode(const char *p, size_t n)
{
    char *out = mr_xmalloc(n + 1);
    size_t i;
    size_t o = 0;

    for (i = 0; i < n; i++) {
        if (p[i] != '%') {
            out[o++] = p[i];
            continue;
        }
        if (i + 2 >= n || hexval((unsigned char)p[i + 1]) < 0 ||
            hexval((unsigned char)p[i + 2]) < 0 || (p[i + 1] == '0' && p[i + 2] == '0')) {
            free(out);
            return NULL;
        }
        out[o++] = (char)(hexval((unsigned char)p[i + 1]) * 16 + hexval((unsigned char)p[i + 2]));
        i += 2;
    }
    out[o] = '\0';
    return out;
}

/* parse_uint - the whole number in @n bytes at @p, within @min..@max; -1 if it is not. */
static long parse_uint(const char *p, size_t n, long min, long max)
{
    long v = 0;
    size_t i;

    if (n == 0 || n > 9)
        return -1;
    for (i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v < min || v > max ? -1 : v;
}

/* parse_option - one "name=value" of the URI's query part. */
static int parse_option(struct my_conf *c, const char *p, size_t n, struct mr_err *err)
{
    const char *eq = memchr(p, '=', n);
    size_t klen = eq != NULL ? (size_t)(eq - p) : n;
    const char *v = eq != NULL ? eq + 1 : p + n;
    size_t vlen = (size_t)(p + n - v);
    unsigned int *field = NULL;
    long x;

    if (klen == 6 && strncmp(p, "socket", 6) == 0) {
        free(c->socket);
        c->socket = decode(v, vlen);
        if (c->socket == NULL || c->socket[0] == '\0')
            return mr_err_set(err, MR_EINVAL, "store: mysql uri: bad socket path");
        return 0;
    }
    if (klen == 15 && strncmp(p, "connect_timeout", 15) == 0)
        field = &c->connect_timeout;
    else if (klen == 12 && strncmp(p, "read_timeout", 12) == 0)
        field = &c->rw_timeout;
    else if (klen == 17 && strncmp(p, "lock_wait_timeout", 17) == 0)
        field = &c->lock_wait;
    if (field == NULL)
        return mr_err_set(err, MR_EINVAL, "store: mysql uri: unknown option '%.*s'", (int)klen, p);
    x = parse_uint(v, vlen, 1, 86400);
    if (x < 0)
        return mr_err_set(err, MR_EINVAL,
                          "store: mysql uri: %.*s: not a number of seconds 1..86400", (int)klen, p);
    *field = (unsigned int)x;
    return 0;
}

/* parse_host - "host", "host:port", "[v6]" or "[v6]:port" (@n bytes at @p, maybe empty). */
static int parse_host(struct my_conf *c, const char *p, size_t n, struct mr_err *err)
{
    const char *host = p;
    size_t hlen = n;
    const char *port = NULL;
    size_t plen = 0;
    long x;

    if (n > 0 && p[0] == '[') {
        const char *close = memchr(p, ']', n);

        if (close == NULL)
            return mr_err_set(err, MR_EINVAL, "store: mysql uri: unclosed '[' in host");
        host = p + 1;
        hlen = (size_t)(close - host);
        if (close + 1 < p + n) {
            if (close[1] != ':')
                return mr_err_set(err, MR_EINVAL, "store: mysql uri: bad host");
            port = close + 2;
            plen = (size_t)(p + n - port);
        }
    } else {
        const char *colon = memchr(p, ':', n);

        if (colon != NULL) {
            hlen = (size_t)(colon - p);
            port = colon + 1;
            plen = (size_t)(p + n - port);
        }
    }
    if (port != NULL) {
        x = parse_uint(port, plen, 1, 65535);
        if (x < 0)
            return mr_err_set(err, MR_EINVAL, "store: mysql uri: bad port '%.*s'", (int)plen, port);
        c->port = (unsigned int)x;
    }
    if (hlen > 0) {
        c->host = decode(host, hlen);
        if (c->host == NULL)
            return mr_err_set(err, MR_EINVAL, "store: mysql uri: bad host");
    }
    return 0;
}

/* conf_free - free what parse_uri filled in. */
static void my_conf_free(struct my_conf *c)
{
    free(c->user);
    free(c->pass);
    free(c->host);
    free(c->db);
    free(c->socket);
    free(c->where);
    memset(c, 0, sizeof(*c));
}

/*
 * parse_uri - "//USER[:PASS]@[HOST[:PORT]]/DB[?name=value&...]", the part of
 * the URI after "mysql:". Error texts never repeat the password.
 */
static int my_uri_parse(const char *rest, struct my_conf *c, struct mr_err *err)
{
    const char *s;
    const char *end;
    const char *at;
    const char *slash;
    const char *colon;
    const char *q;
    struct mr_buf where = MR_BUF_INIT(MR_BUF_UNBOUNDED);
    int code;

    memset(c, 0, sizeof(*c));
    c->port = 3306;
    c->connect_timeout = DEFAULT_CONNECT_TIMEOUT;
    c->rw_timeout = DEFAULT_RW_TIMEOUT;
    c->lock_wait = DEFAULT_LOCK_WAIT;
    if (strncmp(rest, "//", 2) != 0)
        return mr_err_set(err, MR_EINVAL,
                          "store: mysql uri must be mysql://USER:PASS@HOST:PORT/DB");
    s = rest + 2;
    end = s + strcspn(s, "?");
    at = NULL;
    for (q = s; q < end; q++) {
        if (*q == '@')
            at = q; /* the last '@': an unescaped one in a password still works */
    }
    if (at == NULL || at == s)
        return mr_err_set(err, MR_EINVAL, "store: mysql uri has no user (mysql://USER:PASS@...)");
    colon = memchr(s, ':', (size_t)(at - s));
    c->user = decode(s, (size_t)((colon != NULL ? colon : at) - s));
    c->pass = colon != NULL ? decode(colon + 1, (size_t)(at - colon - 1)) : mr_xstrdup("");
    if (c->user == NULL || c->pass == NULL)
        return mr_err_set(err, MR_EINVAL, "store: mysql uri: bad %% escape in user or password");
    slash = memchr(at + 1, '/', (size_t)(end - at - 1));
    if (slash == NULL || slash + 1 == end)
        return mr_err_set(err, MR_EINVAL, "store: mysql uri has no database (.../DB)");
    c->db = decode(slash + 1, (size_t)(end - slash - 1));
    if (c->db == NULL)
        return mr_err_set(err, MR_EINVAL, "store: mysql uri: bad database name");
    code = parse_host(c, at + 1, (size_t)(slash - at - 1), err);
    if (code != 0)
        return code;
    for (q = *end == '?' ? end + 1 : end; *q != '\0';) {
        size_t n = strcspn(q, "&");

        if (n > 0) {
            code = parse_option(c, q, n, err);
            if (code != 0)
                return code;
        }
        q += n;
        if (*q == '&')
            q++;
    }
    if (c->socket != NULL) {
        /* the client library takes the socket when the host is NULL or "localhost" */
        free(c->host);
        c->host = NULL;
        mr_buf_adds(&where, c->socket);
    } else if (c->host == NULL) {
        return mr_err_set(err, MR_EINVAL, "store: mysql uri needs a host or ?socket=PATH");
    } else {
        mr_buf_addf(&where, "%s:%u", c->host, c->port);
    }
    c->where = mr_buf_detach(&where, NULL);
    return 0;
}

/* ---- errors ---- */

/* is_gone - whether MySQL error @e means the server cannot be reached or dropped us. */
static bool is_gone(unsigned int e)
{
    switch (e) {
    case CR_CONNECTION_ERROR:
    case CR_CONN_HOST_ERROR:
    case CR_IPSOCK_ERROR:
    case CR_UNKNOWN_HOST:
    case CR_SERVER_GONE_ERROR:
    case CR_SERVER_HANDSHAKE_ERR:
    case CR_SERVER_LOST:
    case CR_SERVER_LOST_EXTENDED:
    case ER_CON_COUNT_ERROR:
    case ER_SERVER_SHUTDOWN:
    case ER_CONNECTION_KILLED:
    case ER_NET_READ_ERROR:
    case ER_NET_READ_INTERRUPTED:
        return true;
    default:
        return false;
    }
}

/*
 * fail - turn MySQL error @e with text @msg into a store error. A lost
 * connection is marked broken (torn down at the next connect, not here: the
 * caller may still hold statements of it); a deadlock or lock-wait timeout
 * spoils the open transaction. @msg is copied before anything changes.
 */
static int fail(struct my_store *ms, unsigned int e, const char *msg, struct mr_err *err)
{
    int code;

    if (is_gone(e)) {
        code = mr_err_set(err, MR_EUNAVAIL, "mysql: database unavailable: %s", msg);
        ms->broken = true;
        ms->tx_lost = ms->base.in_tx;
        return code;
    }
    if (e == CR_COMMANDS_OUT_OF_SYNC)
        ms->broken = true; /* a bug of ours; a new connection is the way out */
    if (e == ER_LOCK_DEADLOCK || e == ER_LOCK_WAIT_TIMEOUT) {
        /* a deadlock rolled the transaction back; a lock-wait timeout only the statement,
           but the caller rolls back either way, so treat both alike */
        ms->tx_lost = ms->base.in_tx;
        return mr_err_set(err, MR_EBUSY, "mysql: %s", msg);
    }
    return mr_err_set(err, MR_ESTORE, "mysql: %s", msg);
}

/* stmt_fail - fail() with @st's error. */
static int my_stmt_fail(struct my_store *ms, MYSQL_STMT *st, struct mr_err *err)
{
    return fail(ms, mysql_stmt_errno(st), mysql_stmt_error(st), err);
}

/* db_fail - fail() with the connection's error. */
static int my_db_fail(struct my_store *ms, struct mr_err *err)
{
    return fail(ms, mysql_errno(ms->db), mysql_error(ms->db), err);
}

/* ---- parameters ---- */

static void my_p_reset(struct my_store *ms)
{
    ms->p.n = 0;
}

/* p_next - the next parameter slot, cleared. */
static MYSQL_BIND *p_next(struct my_store *ms)
{
    MYSQL_BIND *b;

    assert(ms->p.n < MAX_PARAMS);
    b = &ms->p.b[ms->p.n++];
    memset(b, 0, sizeof(*b));
    return b;
}

static void my_p_int(struct my_store *ms, int64_t v)
{
    MYSQL_BIND *b = p_next(ms);
    unsigned int i = ms->p.n - 1;

    ms->p.v[i] = v;
    b->buffer_type = MYSQL_TYPE_LONGLONG;
    b->buffer = &ms->p.v[i];
}

/* p_bytes - @n bytes at @s as a string or blob parameter (@type); borrowed until executed. */
static void my_p_bytes(struct my_store *ms, enum enum_field_types type, const void *s, size_t n)
{
    MYSQL_BIND *b = p_next(ms);
    unsigned int i = ms->p.n - 1;

    ms->p.len[i] = (unsigned long)n;
    b->buffer_type = type;
    b->buffer = (void *)(s != NULL ? s : "");
    b->buffer_length = (unsigned long)n;
    b->length = &ms->p.len[i];
}

/* p_text - @s as a string; NULL binds '' (the schema keeps strings non-NULL). */
static void my_p_text(struct my_store *ms, const char *s)
{
    my_p_bytes(ms, MYSQL_TYPE_STRING, s, s != NULL ? strlen(s) : 0);
}

/* p_text_or_null - @s, NULL as SQL NULL. */
static void my_p_text_or_null(struct my_store *ms, const char *s)
{
    if (s != NULL) {
        my_p_text(ms, s);
        return;
    }
    p_next(ms)->buffer_type = MYSQL_TYPE_NULL;
}

/*
 * p_transition - the parameters every state-change UPDATE starts with: new state,
 * the times it sets, the schedule (when @next_cron_ms >= 0), and the lease: ended
 * on a final state, else set to @lease_owner until @lease_until_ms when that is
 * not NULL, else kept. One list for the single and the batched statement.
 */
static void my_p_transition(struct my_store *ms, int to, int64_t now_ms, int64_t next_cron_ms,
                         int next_cron_interval, const char *lease_owner, int64_t lease_until_ms)
{
    bool final = mr_msg_state_is_final(to);
    bool lease = !final && lease_owner != NULL;

    my_p_text(ms, mr_msg_state_name(to));
    my_p_int(ms, now_ms);
    my_p_int(ms, to == MR_MSG_SUCCEED);
    my_p_int(ms, now_ms);
    my_p_int(ms, to == MR_MSG_FAILED);
    my_p_int(ms, now_ms);
    my_p_int(ms, next_cron_ms >= 0);
    my_p_int(ms, next_cron_ms);
    my_p_int(ms, next_cron_ms >= 0);
    my_p_int(ms, next_cron_interval);
    my_p_int(ms, final || lease);
    my_p_text(ms, lease ? lease_owner : "");
    my_p_int(ms, final || lease);
    my_p_int(ms, lease ? lease_until_ms : 0);
}


/* exec - execute @st with the parameters bound since my_p_reset(). */
static int my_exec(struct my_store *ms, MYSQL_STMT *st, struct mr_err *err)
{
    /* a count mismatch is a bug in this file, not bad input */
    assert(mysql_stmt_param_count(st) == ms->p.n);
    if (ms->p.n > 0 && mysql_stmt_bind_param(st, ms->p.b) != 0)
        return my_stmt_fail(ms, st, err);
    if (mysql_stmt_execute(st) != 0)
        return my_stmt_fail(ms, st, err);
    return 0;
}

/* exec_id - my_exec() of the fixed statement @id. */
static int my_exec_id(struct my_store *ms, enum stmt_id id, struct mr_err *err)
{
    return my_exec(ms, ms->st[id], err);
}

/* changed - rows the last execute of @id matched (CLIENT_FOUND_ROWS). */
static uint64_t my_changed(struct my_store *ms, enum stmt_id id)
{
    return (uint64_t)mysql_stmt_affected_rows(ms->st[id]);
}

/* ---- rows ---- */

/* row_clear - free the strings of the current row that were not taken. */
static void my_row_clear(struct row *r)
{
    unsigned int i;

    for (i = 0; i < r->n; i++) {
        free(r->s[i]);
        r->s[i] = NULL;
    }
}

/*
 * open_rows - execute @st and get its whole result ready for my_next_row(), each
 * column read as @layout says ('i' integer, 's' string or blob). Strings are
 * bound with no buffer: my_next_row() learns each length, then fetches it whole.
 */
static int my_open_rows(struct my_store *ms, MYSQL_STMT *st, const char *layout, struct mr_err *err)
{
    struct row *r = &ms->row;
    unsigned int i;
    int code;

    code = my_exec(ms, st, err);
    if (code != 0)
        return code;
    if (mysql_stmt_store_result(st) != 0)
        return my_stmt_fail(ms, st, err);
    assert(mysql_stmt_field_count(st) == strlen(layout) && strlen(layout) <= MAX_COLS);
    r->layout = layout;
    r->n = (unsigned int)strlen(layout);
    memset(r->b, 0, sizeof(r->b));
    for (i = 0; i < r->n; i++) {
        MYSQL_BIND *b = &r->b[i];

        r->s[i] = NULL;
        b->is_null = &r->null[i];
        b->length = &r->len[i];
        b->error = &r->trunc[i];
        if (layout[i] == 'i') {
            b->buffer_type = MYSQL_TYPE_LONGLONG;
            b->buffer = &r->v[i];
        } else {
            b->buffer_type = MYSQL_TYPE_BLOB;
        }
    }
    if (mysql_stmt_bind_result(st, r->b) != 0) {
        code = my_stmt_fail(ms, st, err);
        mysql_stmt_free_result(st);
        return code;
    }
    return 0;
}

/* next_row - read the next row of @st: 1 when there is one, 0 at the end, or an error. */
static int my_next_row(struct my_store *ms, MYSQL_STMT *st, struct mr_err *err)
{
    struct row *r = &ms->row;
    unsigned int i;
    int rc;

    my_row_clear(r);
    rc = mysql_stmt_fetch(st);
    if (rc == MYSQL_NO_DATA)
        return 0;
    if (rc == 1)
        return my_stmt_fail(ms, st, err);
    for (i = 0; i < r->n; i++) {
        MYSQL_BIND b;
        unsigned long got = 0;

        if (r->layout[i] != 's' || r->null[i])
            continue;
        r->s[i] = mr_xmalloc((size_t)r->len[i] + 1);
        r->s[i][r->len[i]] = '\0';
        if (r->len[i] == 0)
            continue;
        memset(&b, 0, sizeof(b));
        b.buffer_type = MYSQL_TYPE_BLOB;
        b.buffer = r->s[i];
        b.buffer_length = r->len[i];
        b.length = &got;
        if (mysql_stmt_fetch_column(st, &b, i, 0) != 0)
            return my_stmt_fail(ms, st, err);
    }
    return 1;
}

/* close_rows - done with @st's result. */
static void my_close_rows(struct my_store *ms, MYSQL_STMT *st)
{
    my_row_clear(&ms->row);
    mysql_stmt_free_result(st);
}

/* take - string column @i of the current row (owned result; NULL for SQL NULL). */
static char *my_take(struct my_store *ms, unsigned int i)
{
    char *s = ms->row.s[i];

    ms->row.s[i] = NULL;
    return s;
}

/* take_str - my_take(), with NULL read as "". */
static char *my_take_str(struct my_store *ms, unsigned int i)
{
    char *s = my_take(ms, i);

    return s != NULL ? s : mr_xstrdup("");
}

/* ---- connection ---- */

/* disconnect - close the connection and every statement of it. The transaction flags stay. */
static void disconnect(struct my_store *ms)
{
    size_t i;

    for (i = 0; i < ST_COUNT; i++) {
        if (ms->st[i] != NULL)
            mysql_stmt_close(ms->st[i]);
        ms->st[i] = NULL;
    }
    for (i = 0; i <= STEP_CHUNK; i++) {
        if (ms->ins[i] != NULL)
            mysql_stmt_close(ms->ins[i]);
        ms->ins[i] = NULL;
    }
    for (i = 0; i < MT_COUNT * NBATCH; i++) {
        if (ms->mt[i / NBATCH][i % NBATCH] != NULL)
            mysql_stmt_close(ms->mt[i / NBATCH][i % NBATCH]);
        ms->mt[i / NBATCH][i % NBATCH] = NULL;
    }
    for (i = 0; i < 2 * (MR_STORE_BATCH_CHUNK + 1); i++) {
        MYSQL_STMT **st = &ms->rows[i / (MR_STORE_BATCH_CHUNK + 1)][i % (MR_STORE_BATCH_CHUNK + 1)];

        if (*st != NULL)
            mysql_stmt_close(*st);
        *st = NULL;
    }
    if (ms->db != NULL)
        mysql_close(ms->db);
    ms->db = NULL;
    ms->broken = false;
}

/* query - run fixed SQL text of ours (never data) and discard any result. */
static int my_query(struct my_store *ms, const char *sql, struct mr_err *err)
{
    MYSQL_RES *res;

    if (mysql_real_query(ms->db, sql, strlen(sql)) != 0)
        return my_db_fail(ms, err);
    res = mysql_store_result(ms->db);
    if (res != NULL)
        mysql_free_result(res);
    else if (mysql_field_count(ms->db) != 0)
        return my_db_fail(ms, err);
    return 0;
}

/*
 * query_int - the first column of the first row of fixed query @sql (0 for
 * no row or NULL). *e is the MySQL error number (0 on success), so a caller
 * can tell "no such table" from a failure.
 */
static int my_query_int(struct my_store *ms, const char *sql, int64_t *v, unsigned int *e,
                     struct mr_err *err)
{
    MYSQL_RES *res;
    MYSQL_ROW row;

    *v = 0;
    *e = 0;
    if (mysql_real_query(ms->db, sql, strlen(sql)) != 0) {
        *e = mysql_errno(ms->db);
        return my_db_fail(ms, err);
    }
    res = mysql_store_result(ms->db);
    if (res == NULL) {
        *e = mysql_errno(ms->db);
        return my_db_fail(ms, err);
    }
    row = mysql_fetch_row(res);
    if (row != NULL && row[0] != NULL)
        *v = strtoll(row[0], NULL, 10);
    mysql_free_result(res);
    return 0;
}

/* prepare_sql - a prepared statement of @sql, with IN_LIST expanded to IN_CHUNK placeholders. */
static int my_prepare(struct my_store *ms, const char *sql, MYSQL_STMT **out, struct mr_err *err)
{
    struct mr_buf text = MR_BUF_INIT(MR_BUF_UNBOUNDED);
    const char *mark = strstr(sql, IN_LIST);
    MYSQL_STMT *st;
    int code = 0;
    int i;

    *out = NULL;
    if (mark != NULL) {
        mr_buf_add(&text, sql, (size_t)(mark - sql));
        mr_buf_addc(&text, '(');
        for (i = 0; i < IN_CHUNK; i++)
            mr_buf_adds(&text, i > 0 ? ", ?" : "?");
        mr_buf_addc(&text, ')');
        mr_buf_adds(&text, mark + strlen(IN_LIST));
        sql = text.p;
    }
    st = mysql_stmt_init(ms->db);
    if (st == NULL) {
        code = my_db_fail(ms, err);
    } else if (mysql_stmt_prepare(st, sql, strlen(sql)) != 0) {
        code = my_stmt_fail(ms, st, err);
        mysql_stmt_close(st);
    } else {
        *out = st;
    }
    mr_buf_release(&text);
    return code;
}

/* schema_version - the stored schema version; 0 for a database without the table. */
static int schema_version(struct my_store *ms, int64_t *v, struct mr_err *err)
{
    unsigned int e;
    int code = my_query_int(ms, "SELECT COALESCE(MAX(version), 0) FROM schema_version", v, &e, err);

    if (code != 0 && e == ER_NO_SUCH_TABLE) {
        mr_err_clear(err);
        *v = 0;
        return 0;
    }
    return code;
}

/* latest_version - the newest schema compiled in. */
static int latest_version(void)
{
    return mr_store_mysql_schema[mr_store_mysql_schema_count - 1].version;
}

/* check_not_newer - the "database is from a newer msgrelay" error. */
static int check_not_newer(int64_t have, struct mr_err *err)
{
    if (have > latest_version()) {
        return mr_err_set(err, MR_ESTORE,
                          "store: schema version %lld is newer than this msgrelay (%d)",
                          (long long)have, latest_version());
    }
    return 0;
}

/* check_schema - the database must be at exactly the version compiled in. */
static int my_check_schema(struct my_store *ms, struct mr_err *err)
{
    int64_t have;
    int code = schema_version(ms, &have, err);

    if (code == 0)
        code = check_not_newer(have, err);
    if (code == 0 && have < latest_version()) {
        code = mr_err_set(err, MR_ESTORE,
                          "store: database schema is at version %lld, this msgrelay needs %d: "
                          "run 'msgrelay migrate --store URI' or serve with --migrate",
                          (long long)have, latest_version());
    }
    return code;
}

/*
 * session - the connection settings the engine relies on: strict SQL, UTC,
 * READ COMMITTED (no gap locks: concurrent intake and claims deadlock less),
 * a bounded lock wait, and how multi-row INSERTs number their rows.
 */
static int session(struct my_store *ms, struct mr_err *err)
{
    char sql[160];
    int64_t mode = 0;
    unsigned int e;
    int code;

    snprintf(sql, sizeof(sql),
             "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION', "
             "time_zone = '+00:00', innodb_lock_wait_timeout = %u",
             ms->conf.lock_wait);
    code = my_query(ms, sql, err);
    if (code == 0)
        code = my_query(ms, "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED", err);
    if (code == 0)
        code = my_query_int(ms, "SELECT @@innodb_autoinc_lock_mode", &mode, &e, err);
    if (code == 0)
        code = my_query_int(ms, "SELECT @@auto_increment_increment", &ms->id_step, &e, err);
    /* modes 0 and 1 give a multi-row INSERT consecutive ids; mode 2 only increasing ones */
    ms->ids_consecutive = mode != 2;
    if (ms->id_step < 1)
        ms->id_step = 1;
    return code;
}

/*
 * connect_db - open the connection, set the session, and unless @admin (the
 * migration's connection, which may run several statements in one call)
 * check the schema and prepare every fixed statement.
 */
static int my_connect(struct my_store *ms, bool admin, struct mr_err *err)
{
    const struct my_conf *c = &ms->conf;
    unsigned long flags = CLIENT_FOUND_ROWS | (admin ? CLIENT_MULTI_STATEMENTS : 0);
    my_bool no = 0;
    unsigned int e;
    size_t i;
    int code = 0;

    disconnect(ms);
    pthread_once(&lib_once, lib_init_once);
    ms->db = mysql_init(NULL);
    if (ms->db == NULL)
        return mr_err_set(err, MR_ESYS, "mysql: cannot allocate a connection");
    mysql_options(ms->db, MYSQL_OPT_CONNECT_TIMEOUT, &c->connect_timeout);
    mysql_options(ms->db, MYSQL_OPT_READ_TIMEOUT, &c->rw_timeout);
    mysql_options(ms->db, MYSQL_OPT_WRITE_TIMEOUT, &c->rw_timeout);
    mysql_options(ms->db, MYSQL_OPT_RECONNECT, &no); /* a silent reconnect would lose the tx */
    mysql_options(ms->db, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    if (mysql_real_connect(ms->db, c->host, c->user, c->pass, c->db, c->port, c->socket, flags) ==
        NULL) {
        e = mysql_errno(ms->db);
        if (is_gone(e))
            code = mr_err_set(err, MR_EUNAVAIL, "mysql: database unavailable: %s: %s", c->where,
                              mysql_error(ms->db));
        else
            code = mr_err_set(err, MR_ESTORE, "mysql: cannot connect to %s: %s", c->where,
                              mysql_error(ms->db));
        disconnect(ms);
        return code;
    }
    code = session(ms, err);
    if (code == 0 && !admin)
        code = my_check_schema(ms, err);
    for (i = 0; code == 0 && !admin && i < ST_COUNT; i++)
        code = my_prepare(ms, stmt_sql[i], &ms->st[i], err);
    if (code != 0)
        disconnect(ms);
    return code;
}

/* ensure - outside a transaction: make sure there is a working connection. */
static int ensure(struct my_store *ms, struct mr_err *err)
{
    if (ms->db != NULL && !ms->broken)
        return 0;
    return my_connect(ms, false, err);
}

/* tx_usable - inside a transaction: MR_EUNAVAIL / MR_EBUSY if the server has dropped it. */
static int tx_usable(struct my_store *ms, struct mr_err *err)
{
    if (ms->broken || ms->db == NULL)
        return mr_err_set(err, MR_EUNAVAIL, "mysql: database unavailable: connection lost");
    if (ms->tx_lost)
        return mr_err_set(err, MR_EBUSY,
                          "mysql: the server rolled the transaction back; roll back and retry");
    return 0;
}

/* my_ready - outside a transaction, connect again if need be; inside, is it still alive? */
static int my_ready(struct mr_store *s, struct mr_err *err)
{
    struct my_store *ms = my(s);

    return ms->base.in_tx ? tx_usable(ms, err) : ensure(ms, err);
}

/* ---- reading messages ---- */

/* read_msg - the message in the current row of a MSG_COLS query. */
static int my_read_msg(struct my_store *ms, struct mr_msg **out, struct mr_err *err)
{
    struct row *r = &ms->row;
    struct mr_msg *m = mr_msg_new(0);
    char *state;

    m->id = r->v[0];
    m->gid = my_take_str(ms, 1);
    state = my_take_str(ms, 2);
    m->state = mr_msg_state_parse(state);
    if (m->state < 0) {
        mr_err_set(err, MR_ESTORE, "store: message '%s' has unknown state '%s'", m->gid, state);
        free(state);
        mr_msg_free(m);
        return MR_ESTORE;
    }
    free(state);
    m->query_prepared = my_take_str(ms, 3);
    m->protocol = my_take_str(ms, 4);
    m->custom_data = my_take_str(ms, 5);
    m->branch_headers = my_take_str(ms, 6);
    m->concurrent = r->v[7] != 0;
    m->wait_result = r->v[8] != 0;
    m->timeout_to_fail = (int)r->v[9];
    m->retry_interval = (int)r->v[10];
    m->request_timeout = (int)r->v[11];
    m->delay = (int)r->v[12];
    m->create_ms = r->v[13];
    m->update_ms = r->v[14];
    m->finish_ms = r->v[15];
    m->rollback_ms = r->v[16];
    m->next_cron_ms = r->v[17];
    m->next_cron_interval = (int)r->v[18];
    m->owner = my_take_str(ms, 19);
    m->lease_until_ms = r->v[20];
    m->result = my_take_str(ms, 21);
    *out = m;
    return 0;
}

/* add_step - append the step in the current row of a STEP_COLS query to @m. */
static int my_add_step(struct my_store *ms, struct mr_msg *m, size_t *cap, struct mr_err *err)
{
    struct row *r = &ms->row;
    struct mr_step *sp;
    char *state;

    MR_ALLOC_GROW(m->steps, m->nsteps + 1, *cap);
    sp = &m->steps[m->nsteps];
    memset(sp, 0, sizeof(*sp));
    /* count the step before reading it, so mr_msg_free() frees a half-read one */
    m->nsteps++;
    sp->id = r->v[1];
    sp->branch_id = my_take_str(ms, 2);
    sp->url = my_take_str(ms, 3);
    sp->payload_len = r->null[4] ? 0 : (size_t)r->len[4];
    sp->payload = my_take_str(ms, 4);
    state = my_take_str(ms, 5);
    sp->state = mr_step_state_parse(state);
    if (sp->state < 0) {
        mr_err_set(err, MR_ESTORE, "store: step %lld has unknown state '%s'", (long long)sp->id,
                   state);
        free(state);
        return MR_ESTORE;
    }
    free(state);
    sp->attempts = (int)r->v[6];
    sp->last_error = my_take(ms, 7);
    sp->create_ms = r->v[8];
    sp->update_ms = r->v[9];
    sp->finish_ms = r->v[10];
    return 0;
}

/* load_steps - attach @m's steps, in id (= branch insert) order. */
static int load_steps(struct my_store *ms, struct mr_msg *m, struct mr_err *err)
{
    MYSQL_STMT *st = ms->st[ST_STEPS];
    size_t cap = 0;
    int code;

    my_p_reset(ms);
    my_p_int(ms, m->id);
    code = my_open_rows(ms, st, STEP_LAYOUT, err);
    if (code != 0)
        return code;
    for (;;) {
        code = my_next_row(ms, st, err);
        if (code <= 0)
            break;
        code = my_add_step(ms, m, &cap, err);
        if (code != 0)
            break;
    }
    my_close_rows(ms, st);
    return code;
}

/* A reader of the current row into a zeroed array slot, for my_load_rows(). */
typedef int (*read_row_fn)(struct my_store *ms, void *slot, struct mr_err *err);

/* A destructor of the first @n slots of an array my_load_rows() filled. */
typedef void (*free_rows_fn)(void *v, size_t n);

/*
 * load_rows - run the bound query @st (columns as @layout says) into a new
 * array of elements of @size, one per row, each read by @read. On an error
 * the slots read so far, the failed one included (zeroed before @read, which
 * leaves it freeable), are freed with @free_rows. Owned result: *out, *n
 * elements (NULL, 0 for none).
 */
static int my_load_rows(struct my_store *ms, MYSQL_STMT *st, const char *layout, size_t size,
                     read_row_fn read, free_rows_fn free_rows, void **out, size_t *n,
                     struct mr_err *err)
{
    char *v = NULL;
    size_t cap = 0;
    size_t len = 0;
    int code;

    *out = NULL;
    *n = 0;
    code = my_open_rows(ms, st, layout, err);
    if (code != 0)
        return code;
    for (;;) {
        code = my_next_row(ms, st, err);
        if (code <= 0)
            break;
        if (len + 1 > cap)
            v = mr_xgrow(v, size, len + 1, &cap);
        memset(v + len * size, 0, size);
        len++;
        code = read(ms, v + (len - 1) * size, err);
        if (code != 0)
            break;
    }
    my_close_rows(ms, st);
    if (code != 0) {
        free_rows(v, len);
        return code;
    }
    *out = v;
    *n = len;
    return 0;
}

/* read_msg_row, free_msg_rows - my_load_rows() of messages (struct mr_msg *, no steps). */
static int read_msg_row(struct my_store *ms, void *slot, struct mr_err *err)
{
    return my_read_msg(ms, slot, err);
}

static void free_msg_rows(void *v, size_t n)
{
    mr_store_msgs_free(v, n);
}

/* load_msgs - run the bound MSG_COLS query @id into a new array (no steps). */
static int my_load_msgs(struct my_store *ms, enum stmt_id id, struct mr_msg ***out, size_t *n,
                     struct mr_err *err)
{
    return my_load_rows(ms, ms->st[id], MSG_LAYOUT, sizeof(**out), read_msg_row, free_msg_rows,
                     (void **)out, n, err);
}

/* ---- the engine ---- */

static void my_close(struct mr_store *s)
{
    struct my_store *ms = my(s);

    /* closing rolls back an open transaction, on the server */
    disconnect(ms);
    my_row_clear(&ms->row);
    my_conf_free(&ms->conf);
    free(ms);
}

static int my_begin(struct mr_store *s, struct mr_err *err)
{
    struct my_store *ms = my(s);
    int code;

    code = ensure(ms, err);
    if (code == 0) {
        code = my_query(ms, "START TRANSACTION", err);
        /* a connection the server dropped while it sat idle (a restart, wait_timeout) shows
           only now; nothing was done in it, so connect again and try once more */
        if (code == MR_EUNAVAIL) {
            mr_err_clear(err);
            code = ensure(ms, err);
            if (code == 0)
                code = my_query(ms, "START TRANSACTION", err);
        }
    }
    if (code == 0)
        ms->tx_lost = false;
    return code;
}

static void my_rollback(struct mr_store *s)
{
    struct my_store *ms = my(s);

    if (ms->db != NULL && !ms->broken)
        my_query(ms, "ROLLBACK", NULL);
    ms->tx_lost = false;
}

/*
 * my_commit - MR_EUNAVAIL here means the outcome is unknown (the connection
 * broke during COMMIT). store.c rolls back on failure.
 */
static int my_commit(struct mr_store *s, struct mr_err *err)
{
    return my_query(my(s), "COMMIT", err);
}

static int my_msg_get(struct mr_store *s, const char *gid, bool with_steps, struct mr_msg **out,
                      struct mr_err *err)
{
    struct my_store *ms = my(s);
    struct mr_msg **v = NULL;
    size_t n = 0;
    int code;

    my_p_reset(ms);
    my_p_text(ms, gid);
    code = my_load_msgs(ms, ST_MSG_BY_GID, &v, &n, err);
    if (code != 0 || n == 0)
        return code;
    if (with_steps)
        code = load_steps(ms, v[0], err);
    if (code == 0) {
        *out = v[0];
        v[0] = NULL;
    }
    mr_store_msgs_free(v, n);
    return code;
}

/* step_insert_stmt - the INSERT of @k step rows, prepared at its first use. */
static int step_insert_stmt(struct my_store *ms, size_t k, MYSQL_STMT **out, struct mr_err *err)
{
    struct mr_buf sql = MR_BUF_INIT(MR_BUF_UNBOUNDED);
    size_t i;
    int code;

    if (ms->ins[k] != NULL) {
        *out = ms->ins[k];
        return 0;
    }
    mr_buf_adds(&sql, "INSERT INTO step (msg_id, branch_id, url, payload, state, attempts, "
                      "last_error, create_time, update_time, finish_time) VALUES ");
    for (i = 0; i < k; i++)
        mr_buf_adds(&sql,
                    i > 0 ? ", (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)" : "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    code = my_prepare(ms, sql.p, &ms->ins[k], err);
    mr_buf_release(&sql);
    *out = ms->ins[k];
    return code;
}

/* step_ids_read_back - each step's id, read back in id order (when ids may have gaps). */
static int step_ids_read_back(struct my_store *ms, struct mr_msg *m, struct mr_err *err)
{
    MYSQL_STMT *st = ms->st[ST_STEP_IDS];
    size_t i = 0;
    int code;

    my_p_reset(ms);
    my_p_int(ms, m->id);
    code = my_open_rows(ms, st, "i", err);
    if (code != 0)
        return code;
    /* a multi-row INSERT numbers its rows in increasing order, even with gaps */
    for (;;) {
        code = my_next_row(ms, st, err);
        if (code <= 0)
            break;
        if (i < m->nsteps)
            m->steps[i].id = ms->row.v[0];
        i++;
    }
    my_close_rows(ms, st);
    if (code == 0 && i != m->nsteps)
        code = mr_err_set(err, MR_ESTORE, "store: message '%s': %zu steps written, %zu read back",
                          m->gid, m->nsteps, i);
    return code;
}

/* bind_step - the STEP_PARAMS parameters of step @sp of message @msg_id. */
static void my_bind_step(struct my_store *ms, int64_t msg_id, const struct mr_step *sp)
{
    my_p_int(ms, msg_id);
    my_p_text(ms, sp->branch_id);
    my_p_text(ms, sp->url);
    my_p_bytes(ms, MYSQL_TYPE_BLOB, sp->payload, sp->payload != NULL ? sp->payload_len : 0);
    my_p_text(ms, mr_step_state_name(sp->state));
    my_p_int(ms, sp->attempts);
    my_p_text_or_null(ms, sp->last_error);
    my_p_int(ms, sp->create_ms);
    my_p_int(ms, sp->update_ms);
    my_p_int(ms, sp->finish_ms);
}

/* insert_steps - @m's steps, STEP_CHUNK rows per statement. */
static int insert_steps(struct my_store *ms, struct mr_msg *m, struct mr_err *err)
{
    size_t i;
    size_t j;
    int code;

    for (i = 0; i < m->nsteps; i += STEP_CHUNK) {
        size_t k = m->nsteps - i < STEP_CHUNK ? m->nsteps - i : STEP_CHUNK;
        MYSQL_STMT *st;
        int64_t first;

        code = step_insert_stmt(ms, k, &st, err);
        if (code != 0)
            return code;
        my_p_reset(ms);
        for (j = i; j < i + k; j++)
            my_bind_step(ms, m->id, &m->steps[j]);
        code = my_exec(ms, st, err);
        if (code != 0)
            return code;
        first = (int64_t)mysql_stmt_insert_id(st);
        for (j = 0; j < k; j++)
            m->steps[i + j].id = first + (int64_t)j * ms->id_step;
    }
    if (!ms->ids_consecutive && m->nsteps > 0)
        return step_ids_read_back(ms, m, err);
    return 0;
}

/* bind_msg - the MSG_PARAMS parameters of message @m's row. */
static void my_bind_msg(struct my_store *ms, const struct mr_msg *m)
{
    my_p_text(ms, m->gid);
    my_p_text(ms, mr_msg_state_name(m->state));
    my_p_text(ms, m->query_prepared);
    my_p_text(ms, m->protocol != NULL ? m->protocol : "http");
    my_p_text(ms, m->custom_data);
    my_p_text(ms, m->branch_headers);
    my_p_int(ms, m->concurrent);
    my_p_int(ms, m->wait_result);
    my_p_int(ms, m->timeout_to_fail);
    my_p_int(ms, m->retry_interval);
    my_p_int(ms, m->request_timeout);
    my_p_int(ms, m->delay);
    my_p_int(ms, m->create_ms);
    my_p_int(ms, m->update_ms);
    my_p_int(ms, m->finish_ms);
    my_p_int(ms, m->rollback_ms);
    my_p_int(ms, m->next_cron_ms);
    my_p_int(ms, m->next_cron_interval);
    my_p_text(ms, m->result);
    my_p_text(ms, m->owner);
    my_p_int(ms, m->lease_until_ms);
}

/*
 * my_msg_insert - the message row, then its steps in multi-row INSERTs. Each
 * statement is atomic on its own; should the steps fail, the message row is
 * deleted again (taking any steps with it), so a failed insert writes nothing
 * and the caller's batch (group commit) goes on.
 */
static int my_msg_insert(struct mr_store *s, struct mr_msg *m, struct mr_err *err)
{
    struct my_store *ms = my(s);
    MYSQL_STMT *st = ms->st[ST_MSG_INSERT];
    size_t i;
    int code;

    my_p_reset(ms);
    my_bind_msg(ms, m);
    code = my_exec(ms, st, err);
    if (code == MR_ESTORE && mysql_stmt_errno(st) == ER_DUP_ENTRY)
        return mr_err_set(err, MR_EEXIST, "store: message '%s' already exists", m->gid);
    if (code != 0)
        return code;
    m->id = (int64_t)mysql_stmt_insert_id(st);

    code = insert_steps(ms, m, err);
    if (code == 0)
        return 0;
    if (code != MR_EBUSY && code != MR_EUNAVAIL) {
        /* the transaction is still alive: undo the message row (the steps cascade) */
        my_p_reset(ms);
        my_p_int(ms, m->id);
        if (my_exec_id(ms, ST_MSG_DELETE, NULL) != 0)
            ms->tx_lost = true; /* could not undo: the caller must roll back */
    }
    m->id = 0;
    for (i = 0; i < m->nsteps; i++)
        m->steps[i].id = 0;
    return code;
}

/* read_state - the stored state of @gid into @state (@size bytes); "" when there is none. */
static int read_state(struct my_store *ms, const char *gid, char *state, size_t size,
                      struct mr_err *err)
{
    MYSQL_STMT *st = ms->st[ST_MSG_STATE];
    int code;

    state[0] = '\0';
    my_p_reset(ms);
    my_p_text(ms, gid);
    code = my_open_rows(ms, st, "s", err);
    if (code != 0)
        return code;
    code = my_next_row(ms, st, err);
    if (code > 0) {
        snprintf(state, size, "%s", ms->row.s[0] != NULL ? ms->row.s[0] : "");
        code = 0;
    }
    my_close_rows(ms, st);
    return code;
}

static int my_msg_transition(struct mr_store *s, const char *gid, int from, int to, int64_t now_ms,
                             int64_t next_cron_ms, int next_cron_interval, struct mr_err *err)
{
    struct my_store *ms = my(s);
    char state[32];
    int code;

    my_p_reset(ms);
    my_p_transition(ms, to, now_ms, next_cron_ms, next_cron_interval, NULL, 0);
    my_p_text(ms, gid);
    my_p_text(ms, mr_msg_state_name(from));
    code = my_exec_id(ms, ST_TRANSITION, err);
    if (code != 0 || my_changed(ms, ST_TRANSITION) > 0)
        return code;

    /* nothing changed: tell a missing message from one in another state */
    code = read_state(ms, gid, state, sizeof(state), err);
    if (code != 0)
        return code;
    if (state[0] == '\0')
        return mr_err_set(err, MR_ENOENT, "store: no message '%s'", gid);
    return mr_err_set(err, MR_ECONFLICT, "store: message '%s' is '%s', not '%s'", gid, state,
                      mr_msg_state_name(from));
}

static int my_msg_schedule(struct mr_store *s, const char *gid, int64_t next_cron_ms, int interval,
                           int64_t now_ms, struct mr_err *err)
{
    struct my_store *ms = my(s);
    int code;

    my_p_reset(ms);
    my_p_int(ms, next_cron_ms);
    my_p_int(ms, interval >= 0);
    my_p_int(ms, interval);
    my_p_int(ms, now_ms);
    my_p_text(ms, gid);
    code = my_exec_id(ms, ST_SCHEDULE, err);
    if (code == 0 && my_changed(ms, ST_SCHEDULE) == 0)
        return mr_err_set(err, MR_ENOENT, "store: no unfinished message '%s'", gid);
    return code;
}

/* ---- batches (store.h "batches") ---- */

/*
 * multi_stmt - batch statement @id with @k items, kept in @slot (ms->mt[id][bi]
 * for batch_sizes[bi] items, or ms->rows[][k]), prepared at its first use.
 *
 * A multi-row INSERT (MT_MSG_INSERT, MT_STEP_INSERT) has a statement of
 * exactly @k (1..MR_STORE_BATCH_CHUNK) rows in ms->rows[]: one statement per
 * chunk whatever its size, as the server's cost of a statement is mostly per
 * statement, and a run of 25 rows cut into 16+4+4+1 paid it four times.
 */
static int multi_stmt(struct my_store *ms, enum multi_id id, size_t k, MYSQL_STMT **slot,
                      MYSQL_STMT **out, struct mr_err *err)
{
    const struct multi_sql *d = &multi_sql[id];
    struct mr_buf sql = MR_BUF_INIT(MR_BUF_UNBOUNDED);
    size_t i;
    int code;

    *out = *slot;
    if (*out != NULL)
        return 0;
    mr_buf_adds(&sql, d->head);
    for (i = 0; i < k; i++) {
        if (i > 0)
            mr_buf_adds(&sql, ", ");
        mr_buf_adds(&sql, d->item);
    }
    mr_buf_adds(&sql, d->tail);
    code = my_prepare(ms, sql.p, slot, err);
    mr_buf_release(&sql);
    *out = *slot;
    return code;
}

/*
 * in_list - one chunk's IN list: the batch statement @id of the smallest of
 * batch_sizes[] that holds the @k (1..MR_STORE_BATCH_CHUNK) items, prepared at
 * its first use (into *@out), and the items bound after the parameters bound
 * since my_p_reset(), the last one repeated to fill it. The items are the gids
 * at @gids, or when @gids is NULL the ids at @ids. Nothing is bound on failure.
 */
static int in_list(struct my_store *ms, enum multi_id id, const char *const *gids,
                   const int64_t *ids, size_t k, MYSQL_STMT **out, struct mr_err *err)
{
    size_t bi = NBATCH - 1;
    size_t j;
    int code;

    while (bi > 0 && batch_sizes[bi] < k)
        bi--;
    code = multi_stmt(ms, id, batch_sizes[bi], &ms->mt[id][bi], out, err);
    for (j = 0; code == 0 && j < batch_sizes[bi]; j++) {
        if (gids != NULL)
            my_p_text(ms, gids[j < k ? j : k - 1]);
        else
            my_p_int(ms, ids[j < k ? j : k - 1]);
    }
    return code;
}

/* gid_at - the position of @gid among the @k gids at @gids, or @k. */
static size_t gid_at(const char *const *gids, size_t k, const char *gid)
{
    size_t j;

    for (j = 0; j < k; j++) {
        if (strcmp(gids[j], gid) == 0)
            return j;
    }
    return k;
}

/* id_at - the position of @id among the @k ids at @ids, or @k. */
static size_t id_at(const int64_t *ids, size_t k, int64_t id)
{
    size_t j;

    for (j = 0; j < k; j++) {
        if (ids[j] == id)
            return j;
    }
    return k;
}

/* bind_ids - IN_CHUNK ids of @v from @from (padded with the last one). */
static void my_bind_ids(struct my_store *ms, struct mr_msg **v, size_t n, size_t from)
{
    size_t j;

    for (j = 0; j < IN_CHUNK; j++)
        my_p_int(ms, v[from + j < n ? from + j : n - 1]->id);
}

/* steps_by_id - put @m's steps in id order (insertion sort: a message has few, often sorted). */
static void steps_by_id(struct mr_msg *m)
{
    size_t i;
    size_t j;

    for (i = 1; i < m->nsteps; i++) {
        struct mr_step t = m->steps[i];

        for (j = i; j > 0 && m->steps[j - 1].id > t.id; j--)
            m->steps[j] = m->steps[j - 1];
        m->steps[j] = t;
    }
}

/*
 * load_steps_in - load the steps of @v[from..from+IN_CHUNK) (the messages
 * of a claim or a get_many, none with steps yet) in one query, each
 * message's in id order. The query orders by msg_id only, which the
 * step_branch index gives for free (msg_id, id would be a filesort, and a
 * second read of each row).
 */
static int my_load_steps_in(struct my_store *ms, struct mr_msg **v, size_t n, size_t from,
                         struct mr_err *err)
{
    MYSQL_STMT *st = ms->st[ST_STEPS_IN];
    size_t end = from + IN_CHUNK < n ? from + IN_CHUNK : n;
    size_t caps[IN_CHUNK] = {0};
    size_t cur = from;
    int code;

    my_p_reset(ms);
    my_bind_ids(ms, v, n, from);
    code = my_open_rows(ms, st, STEP_LAYOUT, err);
    if (code != 0)
        return code;
    for (;;) {
        size_t tries;

        code = my_next_row(ms, st, err);
        if (code <= 0)
            break;
        /* rows come in msg_id order, the chunk in its own: find the owner, usually the last */
        for (tries = 0; tries < end - from && v[cur]->id != ms->row.v[0]; tries++)
            cur = cur + 1 < end ? cur + 1 : from;
        if (v[cur]->id != ms->row.v[0]) {
            code = mr_err_set(err, MR_ESTORE, "store: step of unrequested message %lld",
                              (long long)ms->row.v[0]);
            break;
        }
        code = my_add_step(ms, v[cur], &caps[cur - from], err);
        if (code != 0)
            break;
    }
    my_close_rows(ms, st);
    for (cur = from; code == 0 && cur < end; cur++)
        steps_by_id(v[cur]);
    return code;
}

_Static_assert(MR_STORE_BATCH_CHUNK <= IN_CHUNK, "a get_many chunk's steps fit one ST_STEPS_IN");

/*
 * get_chunk - load the messages of the @k gids at @gids (one IN list) into
 * @out, and when @with_steps their steps with one more statement (none when
 * no message was found).
 */
static int get_chunk(struct my_store *ms, const char *const *gids, size_t k, bool with_steps,
                     struct mr_msg **out, struct mr_err *err)
{
    struct mr_msg *found[MR_STORE_BATCH_CHUNK];
    size_t nfound = 0;
    struct mr_msg *m;
    MYSQL_STMT *st;
    size_t at;
    int code;

    my_p_reset(ms);
    code = in_list(ms, MT_GET, gids, NULL, k, &st, err);
    if (code != 0)
        return code;
    code = my_open_rows(ms, st, MSG_LAYOUT, err);
    if (code != 0)
        return code;
    for (;;) {
        code = my_next_row(ms, st, err);
        if (code <= 0)
            break;
        code = my_read_msg(ms, &m, err);
        if (code != 0)
            break;
        at = gid_at(gids, k, m->gid);
        if (at < k && out[at] == NULL) {
            out[at] = m;
            found[nfound++] = m;
        } else {
            mr_msg_free(m); /* a repeated gid: one position has it */
        }
    }
    my_close_rows(ms, st);
    if (code == 0 && with_steps && nfound > 0)
        code = my_load_steps_in(ms, found, nfound, 0, err);
    return code;
}

static int my_msg_get_many(struct mr_store *s, const char *const *gids, size_t n, bool with_steps,
                           struct mr_msg **out, struct mr_err *err)
{
    struct my_store *ms = my(s);
    size_t i;
    size_t k;
    int code = 0;

    for (i = 0; code == 0 && i < n; i += k) {
        k = n - i < MR_STORE_BATCH_CHUNK ? n - i : MR_STORE_BATCH_CHUNK;
        code = get_chunk(ms, gids + i, k, with_steps, out + i, err);
    }
    return code;
}

/* msg_ids_read_back - each new message's id by its gid (when ids may have gaps). */
static int msg_ids_read_back(struct my_store *ms, struct mr_msg *const *v, size_t n,
                             struct mr_err *err)
{
    const char *gids[MR_STORE_BATCH_CHUNK];
    size_t i;
    size_t j;
    size_t k;
    int code = 0;

    for (i = 0; code == 0 && i < n; i += k) {
        MYSQL_STMT *st;

        k = n - i < MR_STORE_BATCH_CHUNK ? n - i : MR_STORE_BATCH_CHUNK;
        for (j = 0; j < k; j++)
            gids[j] = v[i + j]->gid;
        my_p_reset(ms);
        code = in_list(ms, MT_IDS_BY_GID, gids, NULL, k, &st, err);
        if (code != 0)
            break;
        code = my_open_rows(ms, st, "is", err);
        if (code != 0)
            break;
        for (;;) {
            code = my_next_row(ms, st, err);
            if (code <= 0)
                break;
            j = gid_at(gids, k, ms->row.s[1] != NULL ? ms->row.s[1] : "");
            if (j < k)
                v[i + j]->id = ms->row.v[0];
        }
        my_close_rows(ms, st);
    }
    return code;
}

/* step_ids_read_back_many - each new step's id, by message, in id order (ids with gaps). */
static int step_ids_read_back_many(struct my_store *ms, struct mr_msg *const *v, size_t n,
                                   struct mr_err *err)
{
    int64_t ids[MR_STORE_BATCH_CHUNK];
    size_t got[MR_STORE_BATCH_CHUNK];
    size_t i;
    size_t j;
    size_t k;
    int code = 0;

    for (i = 0; code == 0 && i < n; i += k) {
        MYSQL_STMT *st;

        k = n - i < MR_STORE_BATCH_CHUNK ? n - i : MR_STORE_BATCH_CHUNK;
        for (j = 0; j < k; j++) {
            ids[j] = v[i + j]->id;
            got[j] = 0;
        }
        my_p_reset(ms);
        code = in_list(ms, MT_STEP_IDS, NULL, ids, k, &st, err);
        if (code != 0)
            break;
        code = my_open_rows(ms, st, "ii", err);
        if (code != 0)
            break;
        /* a multi-row INSERT numbers its rows in increasing order, even with gaps */
        for (;;) {
            code = my_next_row(ms, st, err);
            if (code <= 0)
                break;
            j = id_at(ids, k, ms->row.v[0]);
            if (j < k && got[j] < v[i + j]->nsteps)
                v[i + j]->steps[got[j]].id = ms->row.v[1];
            if (j < k)
                got[j]++;
        }
        my_close_rows(ms, st);
        for (j = 0; code == 0 && j < k; j++) {
            if (got[j] != v[i + j]->nsteps)
                code = mr_err_set(err, MR_ESTORE,
                                  "store: message '%s': %zu steps written, %zu read back",
                                  v[i + j]->gid, v[i + j]->nsteps, got[j]);
        }
    }
    return code;
}

/* insert_msg_rows - the message rows of @v, in multi-row INSERTs; sets each m->id. */
static int insert_msg_rows(struct my_store *ms, struct mr_msg *const *v, size_t n,
                           struct mr_err *err)
{
    size_t i;
    size_t j;
    size_t k;
    int code;

    for (i = 0; i < n; i += k) {
        MYSQL_STMT *st;
        int64_t first;

        k = n - i < MR_STORE_BATCH_CHUNK ? n - i : MR_STORE_BATCH_CHUNK;
        code = multi_stmt(ms, MT_MSG_INSERT, k, &ms->rows[0][k], &st, err);
        if (code != 0)
            return code;
        my_p_reset(ms);
        for (j = 0; j < k; j++)
            my_bind_msg(ms, v[i + j]);
        code = my_exec(ms, st, err);
        if (code == MR_ESTORE && mysql_stmt_errno(st) == ER_DUP_ENTRY)
            return mr_err_set(err, MR_EEXIST, "store: a message of the batch already exists");
        if (code != 0)
            return code;
        first = (int64_t)mysql_stmt_insert_id(st);
        for (j = 0; j < k; j++)
            v[i + j]->id = first + (int64_t)j * ms->id_step;
    }
    if (!ms->ids_consecutive)
        return msg_ids_read_back(ms, v, n, err);
    return 0;
}

/* insert_step_rows - the steps of every message of @v, in multi-row INSERTs; sets their ids. */
static int insert_step_rows(struct my_store *ms, struct mr_msg *const *v, size_t n,
                            struct mr_err *err)
{
    size_t total = 0;
    size_t mi = 0; /* the message and step of the next row */
    size_t si = 0;
    size_t done;
    size_t i;
    size_t k;
    int code;

    for (i = 0; i < n; i++)
        total += v[i]->nsteps;
    for (done = 0; done < total; done += k) {
        struct mr_step *rows[MR_STORE_BATCH_CHUNK];
        MYSQL_STMT *st;
        int64_t first;

        k = total - done < MR_STORE_BATCH_CHUNK ? total - done : MR_STORE_BATCH_CHUNK;
        code = multi_stmt(ms, MT_STEP_INSERT, k, &ms->rows[1][k], &st, err);
        if (code != 0)
            return code;
        my_p_reset(ms);
        for (i = 0; i < k; i++) {
            while (si >= v[mi]->nsteps) {
                mi++;
                si = 0;
            }
            rows[i] = &v[mi]->steps[si];
            my_bind_step(ms, v[mi]->id, rows[i]);
            si++;
        }
        code = my_exec(ms, st, err);
        if (code != 0)
            return code;
        first = (int64_t)mysql_stmt_insert_id(st);
        for (i = 0; i < k; i++)
            rows[i]->id = first + (int64_t)i * ms->id_step;
    }
    if (!ms->ids_consecutive && total > 0)
        return step_ids_read_back_many(ms, v, n, err);
    return 0;
}

/*
 * my_msg_insert_many - every message row in multi-row INSERTs, then every
 * step row likewise: two or three statements per MR_STORE_BATCH_CHUNK
 * messages instead of two per message. With innodb_autoinc_lock_mode 0 or 1
 * a multi-row INSERT numbers its rows consecutively from the insert id; with
 * 2 the ids are read back (by gid, and by message id for the steps).
 */
static int my_msg_insert_many(struct mr_store *s, struct mr_msg *const *v, size_t n,
                              struct mr_err *err)
{
    struct my_store *ms = my(s);
    int code;

    code = insert_msg_rows(ms, v, n, err);
    if (code == 0)
        code = insert_step_rows(ms, v, n, err);
    return code;
}

/* The times and lease of one transition_many, as transition_update() binds them. */
struct tr_args {
    int from;
    int to;
    int64_t now_ms;
    int64_t next_cron_ms;
    int next_cron_interval;
    const char *lease_owner; /* NULL keeps the lease */
    int64_t lease_until_ms;
};

/* transition_update - the UPDATE of transition_chunk() (every gid, those in @from move). */
static int transition_update(struct my_store *ms, const char *const *gids, size_t k,
                             const struct tr_args *a, MYSQL_STMT **out, struct mr_err *err)
{
    int code;

    my_p_reset(ms);
    my_p_transition(ms, a->to, a->now_ms, a->next_cron_ms, a->next_cron_interval, a->lease_owner,
                 a->lease_until_ms);
    my_p_text(ms, mr_msg_state_name(a->from));
    code = in_list(ms, MT_TRANSITION, gids, NULL, k, out, err);
    if (code != 0)
        return code;
    return my_exec(ms, *out, err);
}

/*
 * transition_chunk - move those of the @k gids at @gids that are in @from,
 * marking them in @changed. The common case is one statement: the UPDATE
 * under a savepoint, and when it matched @k rows (CLIENT_FOUND_ROWS: matched,
 * not changed) every gid was in @from and distinct. Otherwise it is undone
 * to the savepoint, and the rows in @from are locked and marked first, then
 * moved: the lock keeps them in @from until the UPDATE, so the marks are
 * what changed.
 */
static int transition_chunk(struct my_store *ms, const char *const *gids, size_t k,
                            const struct tr_args *a, bool *changed, struct mr_err *err)
{
    size_t found = 0;
    MYSQL_STMT *st;
    size_t at;
    int code;

    code = my_query(ms, "SAVEPOINT msgrelay_tr", err);
    if (code == 0)
        code = transition_update(ms, gids, k, a, &st, err);
    if (code != 0)
        return code;
    if ((uint64_t)mysql_stmt_affected_rows(st) == k) {
        for (at = 0; at < k; at++)
            changed[at] = true;
        return 0;
    }
    code = my_query(ms, "ROLLBACK TO SAVEPOINT msgrelay_tr", err);
    if (code != 0)
        return code;

    my_p_reset(ms);
    my_p_text(ms, mr_msg_state_name(a->from));
    code = in_list(ms, MT_LOCK_STATE, gids, NULL, k, &st, err);
    if (code != 0)
        return code;
    code = my_open_rows(ms, st, "s", err);
    if (code != 0)
        return code;
    for (;;) {
        code = my_next_row(ms, st, err);
        if (code <= 0)
            break;
        at = gid_at(gids, k, ms->row.s[0] != NULL ? ms->row.s[0] : "");
        if (at < k && !changed[at]) {
            changed[at] = true;
            found++;
        }
    }
    my_close_rows(ms, st);
    if (code != 0 || found == 0)
        return code;
    return transition_update(ms, gids, k, a, &st, err);
}

/* my_msg_transition_many - transition_chunk() per chunk; a lease goes in the same UPDATE. */
static int my_msg_transition_many(struct mr_store *s, const char *const *gids, size_t n, int from,
                                  int to, int64_t now_ms, int64_t next_cron_ms,
                                  int next_cron_interval, const char *lease_owner,
                                  int64_t lease_until_ms, bool *changed, struct mr_err *err)
{
    struct my_store *ms = my(s);
    const struct tr_args a = {.from = from,
                              .to = to,
                              .now_ms = now_ms,
                              .next_cron_ms = next_cron_ms,
                              .next_cron_interval = next_cron_interval,
                              .lease_owner = lease_owner,
                              .lease_until_ms = lease_until_ms};
    size_t i;
    size_t k;
    int code = 0;

    for (i = 0; code == 0 && i < n; i += k) {
        k = n - i < MR_STORE_BATCH_CHUNK ? n - i : MR_STORE_BATCH_CHUNK;
        code = transition_chunk(ms, gids + i, k, &a, changed + i, err);
    }
    return code;
}

/*
 * my_claim - inside the transaction store.c opened for it: lock the due rows
 * (skipping rows another claim holds), lease them, load their steps.
 */
static int my_claim(struct mr_store *s, const char *owner, int64_t now_ms, int64_t lease_until_ms,
                    size_t limit, struct mr_msg ***out, size_t *n, struct mr_err *err)
{
    struct my_store *ms = my(s);
    struct mr_msg **v = NULL;
    size_t len = 0;
    size_t i;
    int code;

    my_p_reset(ms);
    my_p_int(ms, now_ms);
    my_p_int(ms, now_ms);
    my_p_int(ms, limit > INT64_MAX ? INT64_MAX : (int64_t)limit);
    code = my_load_msgs(ms, ST_CLAIM, &v, &len, err);
    for (i = 0; code == 0 && i < len; i += IN_CHUNK) {
        my_p_reset(ms);
        my_p_text(ms, owner);
        my_p_int(ms, lease_until_ms);
        my_bind_ids(ms, v, len, i);
        code = my_exec_id(ms, ST_LEASE_IN, err);
    }
    for (i = 0; code == 0 && i < len; i++) {
        free(v[i]->owner);
        v[i]->owner = mr_xstrdup(owner);
        v[i]->lease_until_ms = lease_until_ms;
    }
    for (i = 0; code == 0 && i < len; i += IN_CHUNK)
        code = my_load_steps_in(ms, v, len, i, err);
    if (code != 0) {
        mr_store_msgs_free(v, len);
        return code;
    }
    *out = v;
    *n = len;
    return 0;
}

/* step_exists - whether step @step_id is stored (into *yes). */
static int step_exists(struct my_store *ms, int64_t step_id, bool *yes, struct mr_err *err)
{
    MYSQL_STMT *st = ms->st[ST_STEP_EXISTS];
    int code;

    my_p_reset(ms);
    my_p_int(ms, step_id);
    code = my_open_rows(ms, st, "i", err);
    if (code != 0)
        return code;
    code = my_next_row(ms, st, err);
    my_close_rows(ms, st);
    *yes = code > 0;
    return code < 0 ? code : 0;
}

static int my_step_record(struct mr_store *s, int64_t step_id, bool success, const char *error,
                          int64_t now_ms, struct mr_err *err)
{
    struct my_store *ms = my(s);
    bool yes = false;
    int code;

    my_p_reset(ms);
    my_p_int(ms, now_ms);
    my_p_int(ms, success);
    my_p_int(ms, success);
    my_p_int(ms, now_ms);
    my_p_int(ms, success);
    my_p_text_or_null(ms, error);
    my_p_int(ms, step_id);
    code = my_exec_id(ms, ST_STEP_RECORD, err);
    if (code != 0 || my_changed(ms, ST_STEP_RECORD) > 0)
        return code;

    /* nothing changed: a missing step, or one whose message is no longer submitted */
    code = step_exists(ms, step_id, &yes, err);
    if (code != 0)
        return code;
    if (yes)
        return mr_err_set(err, MR_ECONFLICT, "store: step %lld: its message is no longer submitted",
                          (long long)step_id);
    return mr_err_set(err, MR_ENOENT, "store: no step %lld", (long long)step_id);
}

static int my_msg_release(struct mr_store *s, const char *gid, const char *owner,
                          int64_t next_cron_ms, int interval, const char *result, int64_t now_ms,
                          struct mr_err *err)
{
    struct my_store *ms = my(s);

    my_p_reset(ms);
    my_p_int(ms, next_cron_ms);
    my_p_int(ms, interval >= 0);
    my_p_int(ms, interval);
    my_p_text_or_null(ms, result);
    my_p_int(ms, now_ms);
    my_p_text(ms, gid);
    my_p_text(ms, owner);
    return my_exec_id(ms, ST_RELEASE, err);
}

/* mark_ids - run the bound id query @st and set res[j] = @val for each id it returns. */
static int mark_ids(struct my_store *ms, MYSQL_STMT *st, const int64_t *ids, size_t k, int *res,
                    int val, struct mr_err *err)
{
    size_t at;
    int code;

    code = my_open_rows(ms, st, "i", err);
    if (code != 0)
        return code;
    for (;;) {
        code = my_next_row(ms, st, err);
        if (code <= 0)
            break;
        at = id_at(ids, k, ms->row.v[0]);
        if (at < k)
            res[at] = val;
    }
    my_close_rows(ms, st);
    return code;
}

/*
 * succeed_chunk - one UPDATE for the @k step ids at @ids. When it matched
 * fewer rows than asked, two reads tell, per step, a missing one from one
 * whose message is no longer submitted.
 */
static int succeed_chunk(struct my_store *ms, const int64_t *ids, size_t k, int64_t now_ms,
                         int *res, struct mr_err *err)
{
    MYSQL_STMT *st;
    size_t j;
    int code;

    my_p_reset(ms);
    my_p_int(ms, now_ms);
    my_p_int(ms, now_ms);
    code = in_list(ms, MT_STEPS_OK, NULL, ids, k, &st, err);
    if (code != 0)
        return code;
    code = my_exec(ms, st, err);
    if (code != 0)
        return code;
    for (j = 0; j < k; j++)
        res[j] = 0;
    if ((uint64_t)mysql_stmt_affected_rows(st) >= k)
        return 0;
    for (j = 0; j < k; j++)
        res[j] = MR_ENOENT;
    my_p_reset(ms);
    code = in_list(ms, MT_STEPS_EXIST, NULL, ids, k, &st, err);
    if (code == 0)
        code = mark_ids(ms, st, ids, k, res, MR_ECONFLICT, err);
    if (code == 0) {
        my_p_reset(ms);
        code = in_list(ms, MT_STEPS_LIVE, NULL, ids, k, &st, err);
    }
    if (code == 0)
        code = mark_ids(ms, st, ids, k, res, 0, err);
    return code;
}

static int my_step_succeed_many(struct mr_store *s, const int64_t *step_ids, size_t n,
                                int64_t now_ms, int *res, struct mr_err *err)
{
    struct my_store *ms = my(s);
    size_t i;
    size_t k;
    int code = 0;

    for (i = 0; code == 0 && i < n; i += k) {
        k = n - i < MR_STORE_BATCH_CHUNK ? n - i : MR_STORE_BATCH_CHUNK;
        code = succeed_chunk(ms, step_ids + i, k, now_ms, res + i, err);
    }
    return code;
}

/* same_release - whether @a and @b write the same values (and so fit one statement). */
static bool same_release(const struct mr_store_release *a, const struct mr_store_release *b)
{
    if (a->next_cron_ms != b->next_cron_ms || a->interval != b->interval)
        return false;
    if (a->result == NULL || b->result == NULL)
        return a->result == b->result;
    return strcmp(a->result, b->result) == 0;
}

/* release_run - end @owner's lease on the @k alike items at @v, in IN lists. */
static int release_run(struct my_store *ms, const struct mr_store_release *v, size_t k,
                       const char *owner, int64_t now_ms, struct mr_err *err)
{
    const char *gids[MR_STORE_BATCH_CHUNK];
    size_t i;
    size_t j;
    size_t c;
    int code = 0;

    for (i = 0; code == 0 && i < k; i += c) {
        MYSQL_STMT *st;

        c = k - i < MR_STORE_BATCH_CHUNK ? k - i : MR_STORE_BATCH_CHUNK;
        for (j = 0; j < c; j++)
            gids[j] = v[i + j].gid;
        my_p_reset(ms);
        my_p_int(ms, v[i].next_cron_ms);
        my_p_int(ms, v[i].interval >= 0);
        my_p_int(ms, v[i].interval);
        my_p_text_or_null(ms, v[i].result);
        my_p_int(ms, now_ms);
        my_p_text(ms, owner);
        code = in_list(ms, MT_RELEASE, gids, NULL, c, &st, err);
        if (code == 0)
            code = my_exec(ms, st, err);
    }
    return code;
}

static int my_msg_release_many(struct mr_store *s, const struct mr_store_release *v, size_t n,
                               const char *owner, int64_t now_ms, struct mr_err *err)
{
    struct my_store *ms = my(s);
    size_t i;
    size_t k;
    int code = 0;

    for (i = 0; code == 0 && i < n; i += k) {
        for (k = 1; i + k < n && same_release(&v[i], &v[i + k]); k++)
            continue;
        code = release_run(ms, v + i, k, owner, now_ms, err);
    }
    return code;
}

static int my_release_owner(struct mr_store *s, const char *owner, struct mr_err *err)
{
    struct my_store *ms = my(s);

    /* one statement in autocommit mode: its own transaction */
    my_p_reset(ms);
    my_p_text(ms, owner);
    return my_exec_id(ms, ST_RELEASE_OWNER, err);
}

static int my_count_due(struct mr_store *s, int64_t now_ms, long *n, struct mr_err *err)
{
    struct my_store *ms = my(s);
    MYSQL_STMT *st = ms->st[ST_COUNT_DUE];
    int code;

    my_p_reset(ms);
    my_p_int(ms, now_ms);
    my_p_int(ms, now_ms);
    code = my_open_rows(ms, st, "i", err);
    if (code != 0)
        return code;
    code = my_next_row(ms, st, err);
    if (code > 0) {
        *n = (long)ms->row.v[0];
        code = 0;
    }
    my_close_rows(ms, st);
    return code;
}

/*
 * my_msg_list - one of three fixed statements by which filter narrows most: a
 * gid (at most one row), a state (the state/id index), or none (the primary
 * key, newest first). Unset bounds bind as the widest range.
 */
static int my_msg_list(struct mr_store *s, const struct mr_store_filter *f, struct mr_msg ***out,
                       size_t *n, struct mr_err *err)
{
    struct my_store *ms = my(s);
    enum stmt_id id = ST_LIST_ALL;

    if (f->gid != NULL && f->gid[0] != '\0')
        id = ST_LIST_GID;
    else if (f->state != MR_MSG_NONE)
        id = ST_LIST_STATE;
    my_p_reset(ms);
    if (id == ST_LIST_GID) {
        my_p_text(ms, f->gid);
        my_p_text(ms, mr_msg_state_name(f->state));
    }
    if (id != ST_LIST_ALL)
        my_p_text(ms, mr_msg_state_name(f->state));
    my_p_int(ms, f->position > 0 ? f->position : INT64_MAX);
    my_p_int(ms, f->create_from_ms);
    my_p_int(ms, f->create_to_ms > 0 ? f->create_to_ms : INT64_MAX);
    my_p_int(ms, f->limit == 0 || f->limit > INT64_MAX ? INT64_MAX : (int64_t)f->limit);
    return my_load_msgs(ms, id, out, n, err);
}

/* ---- the kv table (DTM topics) ---- */

/* read_kv_row - the current row of a KV_COLS query into the struct mr_kv @slot (zeroed). */
static int read_kv_row(struct my_store *ms, void *slot, struct mr_err *err)
{
    struct mr_kv *kv = slot;

    (void)err;
    kv->id = ms->row.v[0];
    kv->cat = my_take_str(ms, 1);
    kv->k = my_take_str(ms, 2);
    kv->v = my_take_str(ms, 3);
    kv->version = ms->row.v[4];
    kv->create_ms = ms->row.v[5];
    kv->update_ms = ms->row.v[6];
    return 0;
}

static void free_kv_rows(void *v, size_t n)
{
    mr_store_kvs_free(v, n);
}

/* load_kvs - run the bound KV_COLS query @id into a new array. */
static int load_kvs(struct my_store *ms, enum stmt_id id, struct mr_kv **out, size_t *n,
                    struct mr_err *err)
{
    return my_load_rows(ms, ms->st[id], KV_LAYOUT, sizeof(**out), read_kv_row, free_kv_rows,
                     (void **)out, n, err);
}

static int my_kv_get(struct mr_store *s, const char *cat, const char *k, struct mr_kv **out,
                     struct mr_err *err)
{
    struct my_store *ms = my(s);
    struct mr_kv *v = NULL;
    size_t n = 0;
    int code;

    my_p_reset(ms);
    my_p_text(ms, cat);
    my_p_text(ms, k);
    code = load_kvs(ms, ST_KV_GET, &v, &n, err);
    if (code == 0 && n > 0)
        *out = v;
    else
        mr_store_kvs_free(v, n);
    return code;
}

static int my_kv_scan(struct mr_store *s, const char *cat, int64_t position, size_t limit,
                      struct mr_kv **out, size_t *n, struct mr_err *err)
{
    struct my_store *ms = my(s);

    my_p_reset(ms);
    my_p_text(ms, cat);
    my_p_int(ms, position > 0 ? position : INT64_MAX);
    my_p_int(ms, limit == 0 || limit > INT64_MAX ? INT64_MAX : (int64_t)limit);
    return load_kvs(ms, ST_KV_SCAN, out, n, err);
}

/* my_kv_insert - a duplicate key rolls back only the statement: the transaction goes on. */
static int my_kv_insert(struct mr_store *s, struct mr_kv *kv, struct mr_err *err)
{
    struct my_store *ms = my(s);
    MYSQL_STMT *st = ms->st[ST_KV_INSERT];
    int code;

    my_p_reset(ms);
    my_p_text(ms, kv->cat);
    my_p_text(ms, kv->k);
    my_p_text(ms, kv->v);
    my_p_int(ms, kv->create_ms);
    my_p_int(ms, kv->update_ms);
    code = my_exec(ms, st, err);
    if (code == MR_ESTORE && mysql_stmt_errno(st) == ER_DUP_ENTRY)
        return mr_err_set(err, MR_EEXIST, "store: kv '%s/%s' already exists", kv->cat, kv->k);
    if (code != 0)
        return code;
    kv->id = (int64_t)mysql_stmt_insert_id(st);
    kv->version = 1;
    return 0;
}

static int my_kv_update(struct mr_store *s, int64_t id, int64_t version, const char *v,
                        int64_t now_ms, struct mr_err *err)
{
    struct my_store *ms = my(s);
    int code;

    my_p_reset(ms);
    my_p_text(ms, v);
    my_p_int(ms, now_ms);
    my_p_int(ms, id);
    my_p_int(ms, version);
    code = my_exec_id(ms, ST_KV_UPDATE, err);
    if (code == 0 && my_changed(ms, ST_KV_UPDATE) == 0)
        return mr_err_set(err, MR_ECONFLICT, "store: kv row %lld changed concurrently",
                          (long long)id);
    return code;
}

static int my_kv_delete(struct mr_store *s, const char *cat, const char *k, struct mr_err *err)
{
    struct my_store *ms = my(s);
    int code;

    my_p_reset(ms);
    my_p_text(ms, cat);
    my_p_text(ms, k);
    code = my_exec_id(ms, ST_KV_DELETE, err);
    if (code == 0 && my_changed(ms, ST_KV_DELETE) == 0)
        return mr_err_set(err, MR_ENOENT, "store: no kv '%s/%s'", cat, k);
    return code;
}

/* ---- the relay registry ---- */

static int my_relay_get(struct mr_store *s, const char *relay_id, struct mr_store_relay *out,
                        struct mr_err *err)
{
    struct my_store *ms = my(s);
    MYSQL_STMT *st = ms->st[ST_RELAY_GET];
    int code;

    memset(out, 0, sizeof(*out));
    my_p_reset(ms);
    my_p_text(ms, relay_id);
    code = my_open_rows(ms, st, RELAY_LAYOUT, err);
    if (code != 0)
        return code;
    code = my_next_row(ms, st, err);
    if (code == 1) {
        out->relay_id = my_take_str(ms, 0);
        out->instance = my_take_str(ms, 1);
        out->host = my_take_str(ms, 2);
        out->machine = my_take_str(ms, 3);
        out->pid = ms->row.v[4];
        out->pid_start = ms->row.v[5];
        out->started_ms = ms->row.v[6];
        out->heartbeat_until_ms = ms->row.v[7];
        code = 0;
    } else if (code == 0) {
        code = mr_err_set(err, MR_ENOENT, "store: relay id '%s' is not registered", relay_id);
    }
    my_close_rows(ms, st);
    return code;
}

/* p_relay - @r's columns after the relay id (instance .. heartbeat_until). */
static void p_relay(struct my_store *ms, const struct mr_store_relay *r)
{
    my_p_text(ms, r->instance);
    my_p_text(ms, r->host);
    my_p_text(ms, r->machine);
    my_p_int(ms, r->pid);
    my_p_int(ms, r->pid_start);
    my_p_int(ms, r->started_ms);
    my_p_int(ms, r->heartbeat_until_ms);
}

/* my_relay_insert - a duplicate key rolls back only the statement: the transaction goes on. */
static int my_relay_insert(struct mr_store *s, const struct mr_store_relay *r, struct mr_err *err)
{
    struct my_store *ms = my(s);
    MYSQL_STMT *st = ms->st[ST_RELAY_INSERT];
    int code;

    my_p_reset(ms);
    my_p_text(ms, r->relay_id);
    p_relay(ms, r);
    code = my_exec(ms, st, err);
    if (code == MR_ESTORE && mysql_stmt_errno(st) == ER_DUP_ENTRY)
        return mr_err_set(err, MR_EEXIST, "store: relay id '%s' is registered", r->relay_id);
    return code;
}

static int my_relay_replace(struct mr_store *s, const struct mr_store_relay *r,
                            const char *old_instance, struct mr_err *err)
{
    struct my_store *ms = my(s);
    int code;

    my_p_reset(ms);
    p_relay(ms, r);
    my_p_text(ms, r->relay_id);
    my_p_text(ms, old_instance);
    code = my_exec_id(ms, ST_RELAY_REPLACE, err);
    if (code == 0 && my_changed(ms, ST_RELAY_REPLACE) == 0)
        return mr_err_set(err, MR_ECONFLICT, "store: relay id '%s' changed concurrently",
                          r->relay_id);
    return code;
}

static int my_relay_heartbeat(struct mr_store *s, const char *relay_id, const char *instance,
                              int64_t until_ms, struct mr_err *err)
{
    struct my_store *ms = my(s);
    int code;

    /* one statement in autocommit mode: its own transaction; CLIENT_FOUND_ROWS counts a
       row matched with the same value */
    my_p_reset(ms);
    my_p_int(ms, until_ms);
    my_p_text(ms, relay_id);
    my_p_text(ms, instance);
    code = my_exec_id(ms, ST_RELAY_HEARTBEAT, err);
    if (code == 0 && my_changed(ms, ST_RELAY_HEARTBEAT) == 0)
        return mr_err_set(err, MR_ECONFLICT, "store: relay id '%s' is no longer held by %s",
                          relay_id, instance);
    return code;
}

static int my_relay_unregister(struct mr_store *s, const char *relay_id, const char *instance,
                               struct mr_err *err)
{
    struct my_store *ms = my(s);

    my_p_reset(ms);
    my_p_text(ms, relay_id);
    my_p_text(ms, instance);
    return my_exec_id(ms, ST_RELAY_DELETE, err);
}

static const struct mr_store_engine mysql_engine = {
    .name = "mysql",
    .close = my_close,
    .ready = my_ready,
    .begin = my_begin,
    .commit = my_commit,
    .rollback = my_rollback,
    .msg_get = my_msg_get,
    .msg_insert = my_msg_insert,
    .msg_transition = my_msg_transition,
    .msg_schedule = my_msg_schedule,
    .msg_get_many = my_msg_get_many,
    .msg_insert_many = my_msg_insert_many,
    .msg_transition_many = my_msg_transition_many,
    .claim = my_claim,
    .step_record = my_step_record,
    .msg_release = my_msg_release,
    .step_succeed_many = my_step_succeed_many,
    .msg_release_many = my_msg_release_many,
    .release_owner = my_release_owner,
    .count_due = my_count_due,
    .msg_list = my_msg_list,
    .kv_get = my_kv_get,
    .kv_scan = my_kv_scan,
    .kv_insert = my_kv_insert,
    .kv_update = my_kv_update,
    .kv_delete = my_kv_delete,
    .relay_get = my_relay_get,
    .relay_insert = my_relay_insert,
    .relay_replace = my_relay_replace,
    .relay_heartbeat = my_relay_heartbeat,
    .relay_unregister = my_relay_unregister,
};

/* handle_new - a disconnected handle for the URI rest @rest. */
static int my_handle_new(const char *rest, struct my_store **out, struct mr_err *err)
{
    struct my_store *ms = mr_xcalloc(1, sizeof(*ms));
    int code;

    ms->base.eng = &mysql_engine;
    code = my_uri_parse(rest, &ms->conf, err);
    if (code != 0) {
        my_close(&ms->base);
        return code;
    }
    *out = ms;
    return 0;
}

/* ---- migration ---- */

/* run_script - run one schema file (several statements) and drain every result. */
static int run_script(struct my_store *ms, const char *sql, struct mr_err *err)
{
    MYSQL_RES *res;
    int status;

    if (mysql_real_query(ms->db, sql, strlen(sql)) != 0)
        return my_db_fail(ms, err);
    do {
        res = mysql_store_result(ms->db);
        if (res != NULL)
            mysql_free_result(res);
        else if (mysql_field_count(ms->db) != 0)
            return my_db_fail(ms, err);
        status = mysql_next_result(ms->db);
    } while (status == 0);
    if (status > 0)
        return my_db_fail(ms, err);
    return 0;
}

/* record_version - note schema file @version as applied (a one-off prepared statement). */
static int record_version(struct my_store *ms, int version, struct mr_err *err)
{
    MYSQL_STMT *st = NULL;
    int code;

    code = my_prepare(ms, "INSERT INTO schema_version (version, applied_time) VALUES (?, ?)", &st,
                       err);
    if (code != 0)
        return code;
    my_p_reset(ms);
    my_p_int(ms, version);
    my_p_int(ms, mr_now_ms());
    code = my_exec(ms, st, err);
    mysql_stmt_close(st);
    return code;
}

/* migrate_locked - apply every schema file newer than the stored version, in order. */
static int migrate_locked(struct my_store *ms, struct mr_err *err)
{
    int64_t have;
    size_t i;
    int code;

    code = schema_version(ms, &have, err);
    if (code == 0)
        code = check_not_newer(have, err);
    for (i = 0; code == 0 && i < mr_store_mysql_schema_count; i++) {
        const struct mr_store_schema *f = &mr_store_mysql_schema[i];

        if (f->version <= have)
            continue;
        code = run_script(ms, f->sql, err);
        if (code != 0) {
            mr_err_set(err, code, "store: schema %d: %s", f->version,
                       err != NULL ? err->msg : "failed");
            break;
        }
        code = record_version(ms, f->version, err);
    }
    return code;
}

int mr_store_mysql_migrate(const char *rest, struct mr_err *err)
{
    struct my_store *ms = NULL;
    int64_t got = 0;
    unsigned int e;
    int code;

    code = my_handle_new(rest, &ms, err);
    if (code != 0)
        return code;
    code = my_connect(ms, true, err);
    /* one migration at a time per database: relays started together with --migrate queue here;
       the lock ends with the connection should we fail before releasing it */
    if (code == 0)
        code = my_query_int(ms, "SELECT GET_LOCK(CONCAT('msgrelay.migrate.', DATABASE()), 60)",
                            &got, &e, err);
    if (code == 0 && got != 1)
        code = mr_err_set(err, MR_EBUSY, "store: another migration held the lock for 60 s");
    if (code == 0)
        code = migrate_locked(ms, err);
    my_close(&ms->base);
    return code;
}

int mr_store_mysql_open(const char *rest, struct mr_store **out, struct mr_err *err)
{
    struct my_store *ms = NULL;
    int code;

    *out = NULL;
    code = my_handle_new(rest, &ms, err);
    if (code != 0)
        return code;
    code = my_connect(ms, false, err);
    if (code != 0) {
        my_close(&ms->base);
        return code;
    }
    *out = &ms->base;
    return 0;
}
