/* SPDX-License-Identifier: MIT */
/*
 * target.h - the target policy: which hosts and addresses outbound calls
 * (steps, back-checks, topic subscribers) may reach.
 *
 * Parsed once at start-up from two comma-separated lists (--allow-targets,
 * --deny-targets) into a struct mr_target_policy that is read-only after;
 * checked twice: on the URL at intake and again before each call
 * (mr_target_check_url: names, *.suffixes, URL prefixes and IP literals, no
 * DNS), and on each resolved address when connecting (mr_target_addr_ok:
 * CIDRs), since DNS may answer differently at call time.
 *
 * Rules: deny wins; when an allow list is given a target must match it;
 * everything else is allowed. The deny list always holds the defaults
 * (link-local and cloud metadata addresses, MR_TARGET_DEFAULT_DENY) unless
 * it names "!defaults".
 *
 * Pure functions over caller-owned data; any thread.
 */
#ifndef MR_COMMON_TARGET_H
#define MR_COMMON_TARGET_H

#include <stdbool.h>
#include <stddef.h>

#include <sys/socket.h>

#include "common/err.h"

/* The deny entries every policy starts with (dropped by a "!defaults" entry in the deny list). */
#define MR_TARGET_DEFAULT_DENY                                                                     \
    "169.254.0.0/16,fe80::/"                                                                       \
    "10,fd00:ec2::254,100.100.100.200,metadata.google.internal,metadata.goog"

/* The deny entry that drops the defaults. */
#define MR_TARGET_NO_DEFAULTS "!defaults"

/* Most entries in one list, and the longest entry. */
#define MR_TARGET_MAX_ENTRIES 1024
#define MR_TARGET_ENTRY_MAX   2048

struct mr_target_rule;

/* One list of rules. */
struct mr_target_list {
    struct mr_target_rule *v;
    size_t n;
};

/* A parsed policy; read-only once built. */
struct mr_target_policy {
    struct mr_target_list allow; /* empty: every target not denied */
    struct mr_target_list deny;  /* the defaults (unless dropped) and --deny-targets */
    bool allow_has_cidr;         /* host names the allow list does not name wait for the connect */
};

/* What the URL alone says about a target. */
enum mr_target_verdict {
    MR_TARGET_ALLOW, /* allowed by the URL; the connect-time check applies the deny CIDRs */
    MR_TARGET_CHECK, /* a host name the allow list does not name: its address must match an
                        allow CIDR when connecting */
    MR_TARGET_DENY,  /* refused: denied, or not allowed */
};

/*
 * mr_target_policy_parse - build a policy from the comma-separated lists
 * @allow and @deny (either may be NULL or empty; blanks around entries are
 * ignored). An entry is a host name ("api.example.com", any case, matched
 * exactly), "*.suffix" (any name below suffix, not suffix itself), an IPv4 or
 * IPv6 address or CIDR ("10.0.0.0/8", "fd00::/8"), or an http(s) URL prefix
 * ("https://api.example.com/hooks/": same scheme, host and port, the
 * default port when none is given, and a path starting with the prefix's).
 * MR_EINVAL naming the list (--allow-targets / --deny-targets) and the entry
 * when one is none of these. Owned result: mr_target_policy_free().
 */
int mr_target_policy_parse(const char *allow, const char *deny, struct mr_target_policy **out,
                           struct mr_err *err);

/* mr_target_policy_free - free @p. NULL is a no-op. */
void mr_target_policy_free(struct mr_target_policy *p);

/*
 * mr_target_check_url - the verdict on http(s) URL @url from its scheme,
 * host, port and path alone (no DNS): a deny rule matching the host name, an
 * IP literal host or the URL prefix denies; then, with an allow list, a match
 * allows, an IP literal or a name is denied unless the allow list has CIDRs
 * (MR_TARGET_CHECK). A NULL @p allows everything. A URL libcurl cannot parse
 * gets MR_TARGET_CHECK: its call fails anyway, and not for the policy.
 */
enum mr_target_verdict mr_target_check_url(const struct mr_target_policy *p, const char *url);

/*
 * mr_target_addr_ok - whether a connection to the resolved address @sa
 * (AF_INET or AF_INET6; IPv4-mapped IPv6 counts as IPv4) may be opened for a
 * URL whose verdict was @v: never when a deny CIDR holds it or @v is
 * MR_TARGET_DENY; with MR_TARGET_CHECK only when an allow CIDR holds it.
 * Other families are refused. A NULL @p allows everything.
 */
bool mr_target_addr_ok(const struct mr_target_policy *p, const struct sockaddr *sa,
                       enum mr_target_verdict v);

#endif
