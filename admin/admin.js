/* SPDX-License-Identifier: MIT */
/*
 * admin.js - msgrelay's admin page: a small single-page app on hash routes
 * (#/overview, #/messages, #/message/GID, #/topics, #/redrive) over the
 * relay's own API. Served by prepare/prepare_admin.c from the binary.
 *
 * Rules: every text from the server (gids, URLs, errors, payloads) goes
 * into the page as a text node or an attribute value, never as HTML
 * (el() below; there is no innerHTML here). The admin token, when the relay
 * has one, is asked for once, kept in sessionStorage (gone when the tab
 * closes) and sent as "Authorization: Bearer"; a 401 or 403 asks again.
 */
'use strict';

(function () {
    const TOKEN_KEY = 'msgrelay-admin-token';
    const STATES = ['prepared', 'submitted', 'succeed', 'failed', 'parked'];
    const REFRESH_MS = 5000;
    const main = document.getElementById('main');
    const notice = document.getElementById('notice');
    const forget = document.getElementById('forget-token');
    let timer = null;   /* the overview's refresh */
    let renderSeq = 0;  /* a view answers only if it is still the current one */

    /* ---- DOM, without HTML parsing ---- */

    /* el - element @tag with @attrs (on* keys are listeners) and @kids (strings become text). */
    function el(tag, attrs, ...kids) {
        const e = tag.startsWith('svg:')
            ? document.createElementNS('http://www.w3.org/2000/svg', tag.slice(4))
            : document.createElement(tag);
        for (const [k, v] of Object.entries(attrs || {})) {
            if (v === null || v === undefined || v === false)
                continue;
            if (k.startsWith('on'))
                e.addEventListener(k.slice(2), v);
            else
                e.setAttribute(k, v === true ? '' : String(v));
        }
        for (const k of kids.flat()) {
            if (k === null || k === undefined || k === false)
                continue;
            e.append(k instanceof Node ? k : document.createTextNode(String(k)));
        }
        return e;
    }

    function show(...nodes) {
        main.replaceChildren(...nodes);
    }

    function say(text, bad) {
        notice.textContent = text || '';
        notice.className = bad ? 'bad' : (text ? 'good' : '');
    }

    /* ---- the API ---- */

    class AuthError extends Error {}

    /* api - call @path; the parsed JSON answer, or throws (AuthError on 401/403). */
    async function api(method, path, body) {
        const headers = {};
        const token = sessionStorage.getItem(TOKEN_KEY);
        if (token)
            headers.Authorization = 'Bearer ' + token;
        const opts = {method: method, headers: headers, cache: 'no-store', credentials: 'omit'};
        if (body !== undefined) {
            headers['Content-Type'] = 'application/json';
            opts.body = JSON.stringify(body);
        }
        const res = await fetch(path, opts);
        const text = await res.text();
        let data;
        try {
            data = JSON.parse(text);
        } catch (e) {
            data = {message: text};
        }
        if (res.status === 401 || res.status === 403)
            throw new AuthError(data.message || ('HTTP ' + res.status));
        if (!res.ok)
            throw new Error((data && data.message) || ('HTTP ' + res.status));
        return data;
    }

    function qs(params) {
        const u = new URLSearchParams();
        for (const [k, v] of Object.entries(params)) {
            if (v !== '' && v !== null && v !== undefined)
                u.set(k, v);
        }
        return u.toString();
    }

    /* ---- the token prompt ---- */

    function askToken(why) {
        stopTimer();
        const input = el('input', {id: 'token', type: 'password', autocomplete: 'off',
                                   required: true, spellcheck: 'false'});
        const form = el('form', {id: 'token-form', class: 'card'},
            el('h1', {}, 'Admin token'),
            el('p', {}, 'This relay asks for its admin token (--admin-token, or --api-token ' +
                        'when no admin token is set). It is kept in this tab only.'),
            why ? el('p', {class: 'bad'}, why) : null,
            el('label', {for: 'token'}, 'Token'),
            input,
            el('button', {type: 'submit'}, 'Use token'));
        form.addEventListener('submit', (ev) => {
            ev.preventDefault();
            sessionStorage.setItem(TOKEN_KEY, input.value.trim());
            forget.hidden = false;
            route();
        });
        show(form);
        input.focus();
    }

    forget.addEventListener('click', () => {
        sessionStorage.removeItem(TOKEN_KEY);
        forget.hidden = true;
        askToken('');
    });

    /* guard - run view @fn; a 401/403 brings the token prompt, another error is shown. */
    async function guard(fn) {
        const seq = ++renderSeq;
        try {
            await fn(() => seq === renderSeq);
        } catch (e) {
            if (seq !== renderSeq)
                return;
            if (e instanceof AuthError)
                askToken(sessionStorage.getItem(TOKEN_KEY) ? e.message : '');
            else
                show(el('h1', {}, 'Error'), el('p', {class: 'bad', id: 'error'}, e.message));
        }
    }

    /* ---- small pieces ---- */

    function stateBadge(s) {
        return el('span', {class: 'state state-' + (STATES.includes(s) ? s : 'other')}, s || '?');
    }

    function msgLink(gid) {
        return el('a', {href: '#/message/' + encodeURIComponent(gid), class: 'gid'}, gid);
    }

    function age(seconds) {
        if (seconds < 120)
            return seconds + ' s';
        if (seconds < 7200)
            return Math.floor(seconds / 60) + ' min';
        if (seconds < 172800)
            return Math.floor(seconds / 3600) + ' h';
        return Math.floor(seconds / 86400) + ' d';
    }

    function field(label, input) {
        return el('div', {class: 'field'}, el('label', {for: input.id}, label), input);
    }

    function toMs(v) {
        if (!v)
            return '';
        const t = new Date(v).getTime();
        return isNaN(t) ? '' : t;
    }

    function stopTimer() {
        if (timer !== null)
            clearTimeout(timer);
        timer = null;
    }

    /* confirmButton - a button that asks once more before it runs @action. */
    function confirmButton(label, confirmLabel, id, action, danger) {
        const wrap = el('span', {class: 'confirm'});
        const first = el('button', {type: 'button', id: id, class: danger ? 'danger' : ''}, label);
        first.addEventListener('click', () => {
            const yes = el('button', {type: 'button', id: id + '-confirm', class: 'danger'},
                           confirmLabel);
            const no = el('button', {type: 'button'}, 'Cancel');
            yes.addEventListener('click', () => {
                yes.disabled = true;
                no.disabled = true;
                action();
            });
            no.addEventListener('click', () => {
                wrap.replaceChildren(first);
                first.focus();
            });
            wrap.replaceChildren(yes, ' ', no);
            yes.focus();
        });
        wrap.append(first);
        return wrap;
    }

    /* ---- #/overview ---- */

    /* chart - the delivered/s and failed/s lines over the rate history, as SVG. */
    function chart(rates) {
        const W = 600, H = 180, P = 30;
        const svg = el('svg:svg', {viewBox: '0 0 ' + W + ' ' + H, class: 'chart', role: 'img',
                                   'aria-labelledby': 'chart-title'});
        svg.append(el('svg:title', {id: 'chart-title'},
                      'Deliveries and failures per second, last ' + rates.length + ' intervals'));
        if (rates.length === 0) {
            svg.append(el('svg:text', {x: W / 2, y: H / 2, 'text-anchor': 'middle'},
                          'no samples yet'));
            return svg;
        }
        const t0 = rates[0].t - rates[0].seconds * 1000;
        const t1 = rates[rates.length - 1].t;
        const span = Math.max(t1 - t0, 1);
        let max = 1;
        for (const r of rates)
            max = Math.max(max, r.delivered_per_s, r.failed_per_s);
        const x = (t) => P + (W - 2 * P) * (t - t0) / span;
        const y = (v) => H - P - (H - 2 * P) * v / max;
        svg.append(el('svg:line', {x1: P, y1: H - P, x2: W - P, y2: H - P, class: 'axis'}),
                   el('svg:line', {x1: P, y1: P, x2: P, y2: H - P, class: 'axis'}),
                   el('svg:text', {x: 2, y: P + 4, class: 'tick'}, max.toFixed(max < 10 ? 1 : 0)),
                   el('svg:text', {x: 2, y: H - P + 4, class: 'tick'}, '0'),
                   el('svg:text', {x: P, y: H - 8, class: 'tick'},
                      age(Math.round(span / 1000)) + ' ago'),
                   el('svg:text', {x: W - P, y: H - 8, class: 'tick', 'text-anchor': 'end'}, 'now'));
        for (const [key, cls] of [['delivered_per_s', 'line-ok'], ['failed_per_s', 'line-bad']]) {
            const pts = [[x(t0), y(rates[0][key])]];
            for (const r of rates)
                pts.push([x(r.t), y(r[key])]);
            svg.append(el('svg:polyline', {class: cls, fill: 'none',
                                           points: pts.map((p) => p[0].toFixed(1) + ',' +
                                                           p[1].toFixed(1)).join(' ')}));
        }
        return svg;
    }

    async function viewOverview(live) {
        const o = await api('GET', '/api/msgrelay/overview');
        if (!live())
            return;
        const last = o.rates.length ? o.rates[o.rates.length - 1] : null;
        const counts = el('ul', {class: 'counts', id: 'counts'},
            STATES.map((s) => el('li', {},
                el('a', {href: '#/messages?status=' + s, 'data-state': s},
                   el('span', {class: 'n'}, String(o.states[s] ?? 0)), ' ', stateBadge(s)))));
        const oldest = o.oldest_waiting
            ? el('p', {id: 'oldest'}, 'Oldest unfinished message: ',
                 el('strong', {}, age(o.oldest_waiting.age_s)), ' old (created ',
                 o.oldest_waiting.create_time, ')')
            : el('p', {id: 'oldest'}, 'No unfinished message.');
        const bl = o.backlog;
        const backlog = bl
            ? el('p', {id: 'backlog'}, 'Due now, waiting for the relay: ',
                 el('strong', {}, String(bl.due)),
                 bl.due > 0 ? ', the oldest for ' + bl.oldest_ms + ' ms' : '',
                 bl.slow_ms > 0 ? '; the intake slows once the oldest has waited '
                                  + bl.slow_ms + ' ms'
                                : '; no slowing bound',
                 bl.max > 0 ? ' and refuses submits past ' + bl.max + ' due.' : '.')
            : null;
        const dests = o.destinations.length
            ? el('table', {id: 'destinations'},
                el('caption', {}, 'Destinations this relay has called'),
                el('thead', {}, el('tr', {},
                    ['Destination', 'Health', 'Calls', 'Failures', 'Avg latency'].map(
                        (h) => el('th', {scope: 'col'}, h)))),
                el('tbody', {}, o.destinations.map((d) => el('tr', {},
                    el('td', {class: 'url'}, d.destination),
                    el('td', {}, el('span', {class: d.up ? 'up' : 'down'}, d.up ? 'up' : 'down')),
                    el('td', {class: 'num'}, d.calls),
                    el('td', {class: 'num'}, d.failures),
                    el('td', {class: 'num'}, d.avg_latency_ms + ' ms')))))
            : el('p', {id: 'destinations'}, 'No destination called yet.');
        show(el('h1', {}, 'Overview'),
             el('section', {'aria-labelledby': 'h-states'},
                el('h2', {id: 'h-states'}, 'Messages by state'), counts, oldest, backlog),
             el('section', {'aria-labelledby': 'h-rates'},
                el('h2', {id: 'h-rates'}, 'Deliveries per second'),
                el('p', {class: 'legend'},
                   el('span', {class: 'key-ok'}, 'delivered/s'), ' ',
                   el('span', {class: 'key-bad'}, 'failed/s'),
                   last ? ' — now ' + last.delivered_per_s.toFixed(1) + ' delivered/s, ' +
                          last.failed_per_s.toFixed(1) + ' failed/s' : ''),
                chart(o.rates)),
             el('section', {'aria-labelledby': 'h-dest'},
                el('h2', {id: 'h-dest'}, 'Destinations'), dests),
             el('p', {class: 'muted'}, 'As of ', o.now, '; refreshed every ' +
                REFRESH_MS / 1000 + ' s.'));
        timer = setTimeout(() => guard(viewOverview), REFRESH_MS);
    }

    /* ---- #/messages ---- */

    async function viewMessages(live, params) {
        const status = el('select', {id: 'f-status'},
            el('option', {value: ''}, 'any'),
            STATES.map((s) => el('option', {value: s, selected: params.get('status') === s}, s)));
        const gid = el('input', {id: 'f-gid', type: 'search', value: params.get('gid') || '',
                                 placeholder: 'gid or its beginning', autocomplete: 'off'});
        const from = el('input', {id: 'f-from', type: 'datetime-local',
                                  value: params.get('from') || ''});
        const to = el('input', {id: 'f-to', type: 'datetime-local', value: params.get('to') || ''});
        const limit = el('select', {id: 'f-limit'}, ['20', '50', '100'].map(
            (n) => el('option', {value: n, selected: (params.get('limit') || '20') === n}, n)));
        const form = el('form', {id: 'filters', class: 'filters', role: 'search'},
            field('State', status), field('Gid', gid), field('Created from', from),
            field('Created until', to), field('Per page', limit),
            el('div', {class: 'field'}, el('button', {type: 'submit', id: 'search'}, 'Search')));
        form.addEventListener('submit', (ev) => {
            ev.preventDefault();
            const q = qs({status: status.value, gid: gid.value.trim(), from: from.value,
                          to: to.value, limit: limit.value});
            location.hash = '#/messages' + (q ? '?' + q : '');
        });
        const position = params.get('position') || '';
        const page = await api('GET', '/api/dtmsvr/all?' + qs({
            status: params.get('status') || '', gidPrefix: params.get('gid') || '',
            createTimeStart: toMs(params.get('from')), createTimeEnd: toMs(params.get('to')),
            limit: params.get('limit') || '20', position: position}));
        if (!live())
            return;
        const rows = page.transactions || [];
        const table = rows.length
            ? el('table', {id: 'messages'},
                el('caption', {}, 'Messages, newest first'),
                el('thead', {}, el('tr', {}, ['Gid', 'State', 'Created', 'Updated', 'Next try']
                    .map((h) => el('th', {scope: 'col'}, h)))),
                el('tbody', {}, rows.map((t) => el('tr', {},
                    el('td', {}, msgLink(t.gid)), el('td', {}, stateBadge(t.status)),
                    el('td', {}, t.create_time || ''), el('td', {}, t.update_time || ''),
                    el('td', {}, t.next_cron_time || '')))))
            : el('p', {id: 'messages'}, 'No message matches.');
        const nav = el('p', {class: 'pager'});
        if (position) {
            const first = new URLSearchParams(params);
            first.delete('position');
            nav.append(el('a', {href: '#/messages?' + first.toString()}, 'First page'), ' ');
        }
        if (page.next_position) {
            const next = new URLSearchParams(params);
            next.set('position', page.next_position);
            nav.append(el('a', {href: '#/messages?' + next.toString(), id: 'next-page'},
                          'Next page'));
        }
        show(el('h1', {}, 'Messages'), form, table, nav);
    }

    /* ---- #/message/GID ---- */

    async function action(gid, what, fn) {
        try {
            await fn();
            say(what + ': done for ' + gid);
        } catch (e) {
            if (e instanceof AuthError) {
                askToken(e.message);
                return;
            }
            say(what + ' failed: ' + e.message, true);
        }
        guard((live) => viewMessage(live, gid));
    }

    async function viewMessage(live, gid) {
        const q = await api('GET', '/api/dtmsvr/query?' + qs({gid: gid}));
        if (!live())
            return;
        const t = q.transaction;
        if (!t) {
            show(el('h1', {}, 'Message'), el('p', {id: 'not-found'}, 'No message ', el('code', {}, gid),
                 ' is stored (it may have been removed by retention).'));
            return;
        }
        const live_ = t.status === 'prepared' || t.status === 'submitted' || t.status === 'parked';
        const facts = [['Gid', t.gid], ['State', stateBadge(t.status)], ['Created', t.create_time],
                       ['Updated', t.update_time], ['Finished', t.finish_time],
                       ['Failed at', t.rollback_time], ['Next try', t.next_cron_time],
                       ['Back-check', t.query_prepared], ['Result / last error', t.result],
                       ['Lease owner', t.owner], ['Options', t.options],
                       ['Custom data', t.custom_data]];
        const dl = el('dl', {class: 'facts', id: 'facts'});
        for (const [k, v] of facts) {
            if (v === undefined || v === null || v === '')
                continue;
            dl.append(el('dt', {}, k), el('dd', {id: k === 'State' ? 'msg-state' : null}, v));
        }
        const payloads = t.payloads || [];
        const steps = el('table', {id: 'steps'},
            el('caption', {}, 'Steps'),
            el('thead', {}, el('tr', {}, ['Branch', 'URL', 'State', 'Attempts', 'Last error',
                                          'Updated', 'Payload']
                .map((h) => el('th', {scope: 'col'}, h)))),
            el('tbody', {}, (q.branches || []).map((b, i) => {
                const cell = el('td', {});
                const btn = el('button', {type: 'button', class: 'small'}, 'Show payload');
                btn.addEventListener('click', () => {
                    cell.replaceChildren(el('pre', {class: 'payload'},
                                            payloads[i] !== undefined ? payloads[i] : ''));
                });
                cell.append(btn);
                return el('tr', {}, el('td', {}, b.branch_id), el('td', {class: 'url'}, b.url),
                          el('td', {}, b.status), el('td', {class: 'num'}, b.attempts ?? ''),
                          el('td', {class: 'err'}, b.last_error || ''),
                          el('td', {}, b.update_time || ''), cell);
            })));
        const acts = el('div', {class: 'actions', id: 'actions'});
        if (live_) {
            acts.append(confirmButton('Force stop', 'Yes, stop it (→ failed)', 'force-stop',
                () => action(gid, 'forceStop',
                             () => api('POST', '/api/dtmsvr/forceStop', {gid: gid})), true), ' ');
        }
        if (t.status === 'prepared' || t.status === 'submitted') {
            const retry = el('button', {type: 'button', id: 'retry-now'}, 'Retry now');
            retry.addEventListener('click', () => action(gid, 'Retry now',
                () => api('POST', '/api/dtmsvr/resetNextCronTime', {gid: gid})));
            acts.append(retry, ' ');
        }
        if (t.status === 'parked') {
            acts.append(confirmButton('Redrive', 'Yes, redrive it', 'redrive-one',
                () => action(gid, 'Redrive', () => api('POST', '/api/msgrelay/redrive', {gid: gid}))));
        }
        if (!acts.childNodes.length)
            acts.append(el('p', {class: 'muted'}, 'The message is final: nothing to do.'));
        show(el('h1', {}, 'Message ', el('code', {id: 'msg-gid'}, t.gid)),
             el('p', {}, el('a', {href: '#/messages'}, '← Messages')),
             acts, dl, steps);
    }

    /* ---- #/topics ---- */

    async function viewTopics(live) {
        const page = await api('GET', '/api/dtmsvr/scanKV?' + qs({cat: 'topics', limit: 1000}));
        if (!live())
            return;
        const rows = page.kv || [];
        const list = el('div', {id: 'topics'});
        for (const kv of rows) {
            let subs = [];
            try {
                subs = JSON.parse(kv.v) || [];
            } catch (e) {
                subs = [];
            }
            list.append(el('section', {class: 'card topic'},
                el('h2', {}, kv.k),
                el('ul', {}, subs.map((s) => {
                    const rm = el('button', {type: 'button', class: 'small'}, 'Remove');
                    rm.setAttribute('aria-label', 'Remove ' + s.url + ' from ' + kv.k);
                    rm.addEventListener('click', () => topicCall('unsubscribe',
                        '/api/dtmsvr/unsubscribe?' + qs({topic: kv.k, url: s.url})));
                    return el('li', {}, el('span', {class: 'url'}, s.url),
                              s.remark ? ' — ' + s.remark : '', ' ', rm);
                })),
                confirmButton('Delete topic', 'Yes, delete ' + kv.k, 'delete-' + kv.k,
                    () => topicCall('deleteTopic',
                                    '/api/dtmsvr/topic/' + encodeURIComponent(kv.k), 'DELETE'),
                    true)));
        }
        if (!rows.length)
            list.append(el('p', {}, 'No topic yet.'));
        const topic = el('input', {id: 't-topic', required: true, autocomplete: 'off'});
        const url = el('input', {id: 't-url', type: 'url', required: true, autocomplete: 'off',
                                 placeholder: 'https://service/endpoint'});
        const remark = el('input', {id: 't-remark', autocomplete: 'off'});
        const form = el('form', {id: 'subscribe', class: 'filters card'},
            el('h2', {}, 'Add a subscriber'), field('Topic', topic), field('URL', url),
            field('Remark', remark),
            el('div', {class: 'field'}, el('button', {type: 'submit'}, 'Subscribe')));
        form.addEventListener('submit', (ev) => {
            ev.preventDefault();
            topicCall('subscribe', '/api/dtmsvr/subscribe?' +
                      qs({topic: topic.value.trim(), url: url.value.trim(),
                          remark: remark.value}));
        });
        show(el('h1', {}, 'Topics'), list, form);
    }

    async function topicCall(what, path, method) {
        try {
            await api(method || 'GET', path);
            say(what + ': done');
        } catch (e) {
            if (e instanceof AuthError) {
                askToken(e.message);
                return;
            }
            say(what + ' failed: ' + e.message, true);
        }
        guard(viewTopics);
    }

    /* ---- #/redrive ---- */

    function viewRedrive() {
        const f = {
            gid: el('input', {id: 'r-gid', autocomplete: 'off'}),
            gid_prefix: el('input', {id: 'r-gid-prefix', autocomplete: 'off'}),
            url_prefix: el('input', {id: 'r-url-prefix', autocomplete: 'off'}),
            error: el('input', {id: 'r-error', autocomplete: 'off'}),
            parked_since: el('input', {id: 'r-since', type: 'datetime-local'}),
            parked_until: el('input', {id: 'r-until', type: 'datetime-local'}),
        };
        const all = el('input', {id: 'r-all', type: 'checkbox'});
        const result = el('p', {id: 'redrive-result', role: 'status'});
        const go = el('button', {type: 'button', id: 'redrive-go', class: 'danger', disabled: true},
                      'Redrive');
        let counted = null; /* the filter the last dry run counted */

        function filter() {
            const b = {};
            for (const [k, input] of Object.entries(f)) {
                const v = input.type === 'datetime-local' ? toMs(input.value) : input.value.trim();
                if (v !== '')
                    b[k] = v;
            }
            if (all.checked)
                b.all = true;
            return b;
        }
        function changed() {
            counted = null;
            go.disabled = true;
            go.textContent = 'Redrive';
        }
        for (const input of [...Object.values(f), all])
            input.addEventListener('input', changed);

        async function run(dry) {
            const b = filter();
            if (dry)
                b.dry_run = true;
            try {
                const r = await api('POST', '/api/msgrelay/redrive', b);
                if (dry) {
                    counted = JSON.stringify(filter());
                    result.textContent = r.matched + ' parked message(s) match.';
                    go.disabled = r.matched === 0;
                    go.textContent = 'Redrive ' + r.matched + ' message(s)';
                } else {
                    result.textContent = r.redriven + ' of ' + r.matched + ' redriven.';
                    changed();
                }
            } catch (e) {
                if (e instanceof AuthError) {
                    askToken(e.message);
                    return;
                }
                result.textContent = 'Failed: ' + e.message;
            }
        }
        const count = el('button', {type: 'submit', id: 'redrive-count'}, 'Count (dry run)');
        go.addEventListener('click', () => {
            if (counted === JSON.stringify(filter()))
                run(false);
        });
        const form = el('form', {id: 'redrive', class: 'filters'},
            field('Gid', f.gid), field('Gid prefix', f.gid_prefix),
            field('URL prefix', f.url_prefix), field('Error contains', f.error),
            field('Parked since', f.parked_since), field('Parked until', f.parked_until),
            el('div', {class: 'field check'}, all, el('label', {for: 'r-all'}, 'every parked message')),
            el('div', {class: 'field'}, count, ' ', go));
        form.addEventListener('submit', (ev) => {
            ev.preventDefault();
            run(true);
        });
        show(el('h1', {}, 'Redrive parked messages'),
             el('p', {}, 'Parked messages failed retry_limit times. Name which to send again, ' +
                         'count them first, then redrive. ',
                el('a', {href: '#/messages?status=parked'}, 'List parked messages')),
             form, result);
        return Promise.resolve();
    }

    /* ---- the router ---- */

    function route() {
        stopTimer();
        const hash = location.hash.replace(/^#/, '') || '/overview';
        const qi = hash.indexOf('?');
        const path = qi >= 0 ? hash.slice(0, qi) : hash;
        const params = new URLSearchParams(qi >= 0 ? hash.slice(qi + 1) : '');
        const section = path.split('/')[1] || 'overview';
        for (const a of document.querySelectorAll('[data-nav]')) {
            if (a.dataset.nav === section || (section === 'message' && a.dataset.nav === 'messages'))
                a.setAttribute('aria-current', 'page');
            else
                a.removeAttribute('aria-current');
        }
        forget.hidden = !sessionStorage.getItem(TOKEN_KEY);
        if (path.startsWith('/message/')) {
            let gid;
            try {
                gid = decodeURIComponent(path.slice('/message/'.length));
            } catch (e) {
                gid = path.slice('/message/'.length);
            }
            document.title = gid + ' — msgrelay';
            return guard((live) => viewMessage(live, gid));
        }
        const views = {overview: viewOverview, messages: viewMessages, topics: viewTopics,
                       redrive: viewRedrive};
        const view = views[section];
        if (!view) {
            show(el('h1', {}, 'Not found'), el('p', {}, el('a', {href: '#/overview'}, 'Overview')));
            return;
        }
        document.title = section[0].toUpperCase() + section.slice(1) + ' — msgrelay';
        return guard((live) => view(live, params));
    }

    window.addEventListener('hashchange', () => {
        say('');
        route();
        main.focus({preventScroll: true});
    });
    route();
})();
