/* SPDX-License-Identifier: MIT */
/*
 * relay_identity.c - who this relay process is, for the registry of relay ids
 * (store.h "relays"): a random instance token, the host name, the machine
 * (boot id and pid namespace: where a pid names one process) and the pid with
 * its start time; and whether the process holding a registration is provably
 * dead, which lets a relay restarted after kill -9 take its id back at once
 * instead of waiting out the dead one's heartbeat.
 *
 * Must not: call a holder dead on a guess. Only a holder on the same machine
 * whose pid is gone, or now belongs to a process started at another time,
 * is dead; anything else (another host, another container, an unreadable
 * /proc) counts as alive until its heartbeat lapses.
 *
 * Thread: the relay's start-up (mr_relay_start). Errors: a missing /proc or
 * boot id only makes the dead check say "alive"; registration errors are
 * returned with a message for the operator.
 */
#include "relay/relay_int.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/types.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"

/* read_small - the first line of file @path (at most @size - 1 bytes) into @out; 0 or -1. */
static int read_small(const char *path, char *out, size_t size)
{
    FILE *f = fopen(path, "re");
    size_t n;

    if (f == NULL)
        return -1;
    n = fread(out, 1, size - 1, f);
    fclose(f);
    out[n] = '\0';
    out[strcspn(out, "\n")] = '\0';
    return n > 0 ? 0 : -1;
}

/*
 * pid_start - the start time of process @pid in clock ticks since boot
 * (field 22 of /proc/PID/stat), or -1 when it cannot be read (no such process).
 */
static int64_t pid_start(pid_t pid)
{
    char path[64];
    char stat[1024];
    const char *p;
    int field;

    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    if (read_small(path, stat, sizeof(stat)) != 0)
        return -1;
    /* the command name (field 2) may hold spaces and ')': fields 3.. follow its last ')' */
    p = strrchr(stat, ')');
    if (p == NULL)
        return -1;
    p++; /* the space before field 3 */
    for (field = 3; field < 22 && p != NULL; field++)
        p = strchr(p + 1, ' ');
    if (p == NULL)
        return -1;
    return strtoll(p + 1, NULL, 10);
}

/* machine_id - "BOOT-ID/pid:[INODE]": equal only for processes that share one pid space. */
static char *machine_id(void)
{
    char boot[64];
    char ns[64];
    ssize_t n;
    struct mr_buf b = MR_BUF_INIT(MR_STORE_RELAY_TEXT_MAX);

    if (read_small("/proc/sys/kernel/random/boot_id", boot, sizeof(boot)) != 0)
        return mr_xstrdup("");
    n = readlink("/proc/self/ns/pid", ns, sizeof(ns) - 1);
    if (n <= 0)
        return mr_xstrdup("");
    ns[n] = '\0';
    if (mr_buf_addf(&b, "%s/%s", boot, ns) != 0) {
        mr_buf_release(&b);
        return mr_xstrdup("");
    }
    return mr_buf_detach(&b, NULL);
}

/* instance_token - 16 random bytes in hex; falls back to time and pid if getrandom fails. */
static char *instance_token(void)
{
    unsigned char raw[16];
    char *hex = mr_xmalloc(2 * sizeof(raw) + 1);
    size_t i;

    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
        uint64_t a = (uint64_t)mr_now_ms();
        uint64_t b = ((uint64_t)getpid() << 32) ^ (uint64_t)mr_mono_ms();

        memcpy(raw, &a, 8);
        memcpy(raw + 8, &b, 8);
    }
    for (i = 0; i < sizeof(raw); i++)
        snprintf(hex + 2 * i, 3, "%02x", raw[i]);
    return hex;
}

void mr_relay_identity_init(struct mr_store_relay *me, const char *relay_id)
{
    char host[256];

    memset(me, 0, sizeof(*me));
    if (gethostname(host, sizeof(host)) != 0)
        strcpy(host, "localhost");
    host[MR_STORE_RELAY_TEXT_MAX] = '\0';
    me->relay_id = mr_xstrdup(relay_id);
    me->instance = instance_token();
    me->host = mr_xstrdup(host);
    me->machine = machine_id();
    me->pid = (int64_t)getpid();
    me->pid_start = pid_start(getpid());
    me->started_ms = mr_now_ms();
}

bool mr_relay_identity_dead(const struct mr_store_relay *me, const struct mr_store_relay *holder)
{
    int64_t start;

    if (me->machine[0] == '\0' || strcmp(me->machine, holder->machine) != 0)
        return false; /* another host or pid namespace: its pids mean nothing here */
    if (holder->pid <= 0 || holder->pid > INT32_MAX || holder->pid == me->pid)
        return false;
    if (kill((pid_t)holder->pid, 0) != 0 && errno == ESRCH)
        return true;
    /* the pid lives; it is the holder only if it started when the holder did */
    start = pid_start((pid_t)holder->pid);
    return start >= 0 && holder->pid_start >= 0 && start != holder->pid_start;
}

int mr_relay_identity_register(struct mr_store *s, struct mr_store_relay *me, int64_t ttl_ms,
                               struct mr_err *err)
{
    struct mr_store_relay holder;
    char pid[32];
    char until[40];
    int rc;

    me->heartbeat_until_ms = mr_now_ms() + ttl_ms;
    rc = mr_store_relay_register(s, me, mr_now_ms(), NULL, &holder, err);
    if (rc == MR_EEXIST && mr_relay_identity_dead(me, &holder)) {
        /* kill -9 or a crash: the id is ours again without waiting out its heartbeat; the
           compare-and-set on the dead instance loses to anyone who took it meanwhile */
        char *dead = holder.instance;

        holder.instance = NULL;
        snprintf(pid, sizeof(pid), "%" PRId64, holder.pid);
        mr_store_relay_clear(&holder);
        mr_err_clear(err);
        me->heartbeat_until_ms = mr_now_ms() + ttl_ms;
        rc = mr_store_relay_register(s, me, mr_now_ms(), dead, &holder, err);
        if (rc == 0)
            mr_log(MR_LOG_WARN, "took over the relay id from a dead relay", "relay_id",
                   me->relay_id, "dead_pid", pid, "dead_instance", dead, NULL);
        free(dead);
    }
    if (rc == MR_EEXIST) {
        mr_time_rfc3339(holder.heartbeat_until_ms, until, sizeof(until));
        rc = mr_err_set(err, MR_EEXIST,
                        "relay id '%s' is held by a live relay (host %s, pid %" PRId64
                        ", heartbeat until %s): give each relay its own --relay-id, or stop that "
                        "one first",
                        me->relay_id, holder.host, holder.pid, until);
    }
    mr_store_relay_clear(&holder);
    return rc;
}
