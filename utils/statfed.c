/*
 * statfed.c - shmq-stat's federation sections (see statfed.h).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <shmq/shmq.h>

#include "cli.h"
#include "statfed.h"

struct fed_out {
	FILE		*text;
	FILE		*json;
	int		 n;
	uint64_t	 now_ns;
};

/* "1.2 s ago", or "-" for never. */
static void
ago(char *buf, size_t len, uint64_t now, uint64_t t)
{
	if (t == 0)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.1f s ago", now > t ?
		    (double)(now - t) / 1e9 : 0.0);
}

static int
link_cb(void *arg, const struct shmq_link_info *l)
{
	struct fed_out *o = arg;
	char hb[32], bi[16], bo[16], be[16], mode[16];

	ago(hb, sizeof(hb), o->now_ns, l->last_heartbeat_ns);
	cli_humanize(bi, sizeof(bi), l->bytes_in);
	cli_humanize(bo, sizeof(bo), l->bytes_out);
	/* Messages behind, replication both ways (doc/federation.md). */
	if (l->behind_msgs == 0)
		strlcpy(be, "-", sizeof(be));
	else
		snprintf(be, sizeof(be), "%llu",
		    (unsigned long long)l->behind_msgs);
	/* Who dialed, and "+tls" over TLS. */
	snprintf(mode, sizeof(mode), "%s%s", l->configured ? (l->inbound ?
	    "dial/in" : "dial") : "in", l->tls ? "+tls" : "");
	fprintf(o->text, "%-16s %-22s %-14s %-8s %-13s %6s %8s %8s %6llu %6llu "
	    "%6llu%s%s\n", l->host[0] != '\0' ? l->host : "?", l->addr,
	    shmq_link_state_name(l->state), mode, hb, be, bi, bo,
	    (unsigned long long)l->reconnects,
	    (unsigned long long)l->auth_failures,
	    (unsigned long long)l->routes, l->last_error[0] != '\0' &&
	    l->state != SHMQ_LINK_UP ? "  " : "",
	    l->last_error[0] != '\0' && l->state != SHMQ_LINK_UP ?
	    l->last_error : "");
	fprintf(o->json, "%s{\"host\":", o->n++ > 0 ? "," : "");
	cli_json_cstr(o->json, l->host);
	fprintf(o->json, ",\"host_id\":\"%016llX\",\"addr\":",
	    (unsigned long long)l->host_id);
	cli_json_cstr(o->json, l->addr);
	fprintf(o->json, ",\"state\":");
	cli_json_cstr(o->json, shmq_link_state_name(l->state));
	fprintf(o->json, ",\"configured\":%s,\"inbound\":%s,\"tls\":%s,"
	    "\"last_heartbeat_ms\":%llu,\"up_since_ms\":%llu,"
	    "\"behind_bytes\":%llu,\"behind_msgs\":%llu,\"bytes_in\":%llu,"
	    "\"bytes_out\":%llu,\"frames_in\":%llu,\"frames_out\":%llu,"
	    "\"reconnects\":%llu,\"auth_failures\":%llu,\"rejected\":%llu,"
	    "\"routes\":%llu,\"last_error\":",
	    l->configured ? "true" : "false", l->inbound ? "true" : "false",
	    l->tls ? "true" : "false",
	    (unsigned long long)(l->last_heartbeat_ns / 1000000),
	    (unsigned long long)(l->up_since_ns / 1000000),
	    (unsigned long long)l->behind_bytes,
	    (unsigned long long)l->behind_msgs,
	    (unsigned long long)l->bytes_in, (unsigned long long)l->bytes_out,
	    (unsigned long long)l->frames_in,
	    (unsigned long long)l->frames_out,
	    (unsigned long long)l->reconnects,
	    (unsigned long long)l->auth_failures,
	    (unsigned long long)l->rejected, (unsigned long long)l->routes);
	cli_json_cstr(o->json, l->last_error);
	fputc('}', o->json);
	return 0;
}

static int
route_cb(void *arg, const struct shmq_route_info *r)
{
	struct fed_out *o = arg;
	char up[32];

	ago(up, sizeof(up), o->now_ns, r->updated_ns);
	/* FENCED: a copy superseded by a promoted home (doc/federation.md,
	 * "Promotion"), or a stale claim to be home. */
	fprintf(o->text, "%-24s %-16s %6u %-6s %5llu %-5s %s\n", r->topic,
	    r->host, r->queues, r->home ? "yes" : r->fenced ? "fenced" : "no",
	    (unsigned long long)r->epoch, r->local ? "yes" : "no", up);
	fprintf(o->json, "%s{\"topic\":", o->n++ > 0 ? "," : "");
	cli_json_cstr(o->json, r->topic);
	fprintf(o->json, ",\"host\":");
	cli_json_cstr(o->json, r->host);
	fprintf(o->json, ",\"host_id\":\"%016llX\",\"queues\":%u,"
	    "\"home\":%s,\"fenced\":%s,\"epoch\":%llu,\"local\":%s,"
	    "\"updated_ms\":%llu}",
	    (unsigned long long)r->host_id, r->queues,
	    r->home ? "true" : "false", r->fenced ? "true" : "false",
	    (unsigned long long)r->epoch, r->local ? "true" : "false",
	    (unsigned long long)(r->updated_ns / 1000000));
	return 0;
}

int
statfed_take(struct shmq_bus *bus, const char *topic, char **text,
    char **json)
{
	struct shmq_fed_info fi;
	struct fed_out o;
	size_t tl, jl;
	int rc;

	free(*text);
	free(*json);
	*text = *json = NULL;
	o.text = open_memstream(text, &tl);
	o.json = open_memstream(json, &jl);
	if (o.text == NULL || o.json == NULL)
		return cli_syserr("federation");
	o.now_ns = shmq_now_ns();
	o.n = 0;
	rc = shmq_fed_info(bus, &fi);
	if (rc == SHMQ_ENOENT) {
		fprintf(o.text, "\nFEDERATION\n(none: no shmqd with "
		    "federation for this bus)\n");
		fprintf(o.json, "null");
		fclose(o.text);
		fclose(o.json);
		return 0;
	}
	if (rc < 0)
		goto fail;
	fprintf(o.text, "\nFEDERATION\nhost:            %s (id %016llX)\n"
	    "listen:          %s\nshmqd:           pid %d (%s), table "
	    "written %.1f s ago\nrefused inbound: %llu before auth, %llu "
	    "wrong secret\n", fi.host, (unsigned long long)fi.host_id,
	    fi.listen[0] != '\0' ? fi.listen : "(not listening)", fi.pid,
	    fi.daemon_alive ? "running" : "NOT RUNNING: table is stale",
	    o.now_ns > fi.written_ns ? (double)(o.now_ns - fi.written_ns) /
	    1e9 : 0.0, (unsigned long long)fi.rejected,
	    (unsigned long long)fi.auth_failures);
	fprintf(o.json, "{\"host\":");
	cli_json_cstr(o.json, fi.host);
	fprintf(o.json, ",\"host_id\":\"%016llX\",\"listen\":",
	    (unsigned long long)fi.host_id);
	cli_json_cstr(o.json, fi.listen);
	fprintf(o.json, ",\"pid\":%d,\"alive\":%s,\"written_ms\":%llu,"
	    "\"rejected\":%llu,\"auth_failures\":%llu,\"links\":[", fi.pid,
	    fi.daemon_alive ? "true" : "false",
	    (unsigned long long)(fi.written_ns / 1000000),
	    (unsigned long long)fi.rejected,
	    (unsigned long long)fi.auth_failures);
	fprintf(o.text, "\nLINKS\n%-16s %-22s %-14s %-8s %-13s %6s %8s %8s "
	    "%6s %6s %6s\n", "PEER", "ADDRESS", "STATE", "DIAL", "HEARTBEAT",
	    "BEHIND", "IN", "OUT", "RECONN", "AUTHF", "ROUTES");
	if ((rc = shmq_link_foreach(bus, link_cb, &o)) < 0)
		goto fail;
	if (o.n == 0)
		fprintf(o.text, "(no links)\n");
	fprintf(o.json, "],\"routes\":[");
	fprintf(o.text, "\nROUTES\n%-24s %-16s %6s %-6s %5s %-5s %s\n",
	    "TOPIC", "HOST", "QUEUES", "HOME", "EPOCH", "LOCAL", "REGISTERED");
	o.n = 0;
	if ((rc = shmq_route_foreach(bus, topic, route_cb, &o)) < 0)
		goto fail;
	if (o.n == 0)
		fprintf(o.text, "(no routes)\n");
	fprintf(o.json, "]}");
	fclose(o.text);
	fclose(o.json);
	return 0;
fail:
	fclose(o.text);
	fclose(o.json);
	return cli_err(rc, "federation table of bus \"%s\"",
	    shmq_bus_name(bus));
}
