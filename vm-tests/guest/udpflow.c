/*
 * udpflow: the test traffic of a vm-tests scenario, as one static program.
 *
 * It binds the receiver socket inside the receiving namespace first, then sends COUNT datagrams
 * from the sending namespace, then waits until all arrived or the window closed. Doing both ends
 * in one process (setns between them; a socket stays in the namespace it was created in) means
 * there is no race between "listener ready" and "first datagram" and no sleeps.
 *
 * Prints one line per datagram sent ("send 3 EINVAL") and a closing summary line:
 *   udpflow: sent_ok=N send_failed=N received=N errors=EINVAL,EMSGSIZE
 * --encap-socket PORT also opens, in the receiving namespace, the NAT-T socket an IKE daemon keeps:
 * UDP_ENCAP_ESPINUDP on PORT with a per-socket bypass policy. With --hold-ms it only holds that
 * socket open for MS milliseconds and sends nothing (for xfrmdiag diagnose's own test traffic).
 * --tcp --bytes N sends a TCP flow instead: listener in the receiving namespace, connect from the
 * sending one, write N bytes, wait (--window-ms) until the listener read them all. Counts are then
 * bytes ("received" = bytes read by the listener) and the summary adds what the sender's socket
 * says: acked=N written=N mss=N pmtu=N retrans=N. A connection that stalled is reset at the end,
 * so it does not retransmit into the next scenario.
 * Exit status: 0 when it ran (whatever the kernel did to the packets), 2 on a usage/setup error.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/xfrm.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef UDP_ENCAP
#define UDP_ENCAP 100
#endif
#ifndef UDP_ENCAP_ESPINUDP
#define UDP_ENCAP_ESPINUDP 2
#endif

static void die(const char *what)
{
	fprintf(stderr, "udpflow: %s: %s\n", what, strerror(errno));
	exit(2);
}

static void enter_netns(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die(path);
	if (setns(fd, CLONE_NEWNET) < 0)
		die("setns");
	close(fd);
}

/*
 * What an IKE daemon does to its NAT-T socket: a per-socket policy that allows everything, in
 * and out. Without it the "require ESP" inbound policy matching the peer's address drops the
 * ESP-in-UDP datagrams in the UDP receive path before the encapsulation handler sees them.
 */
static void bypass_socket_policy(int fd)
{
	for (int dir = XFRM_POLICY_IN; dir <= XFRM_POLICY_OUT; dir++) {
		struct xfrm_userpolicy_info pol;
		memset(&pol, 0, sizeof(pol));
		pol.action = XFRM_POLICY_ALLOW;
		pol.sel.family = AF_INET;
		pol.dir = dir;
		pol.lft.soft_byte_limit = XFRM_INF;
		pol.lft.hard_byte_limit = XFRM_INF;
		pol.lft.soft_packet_limit = XFRM_INF;
		pol.lft.hard_packet_limit = XFRM_INF;
		if (setsockopt(fd, IPPROTO_IP, IP_XFRM_POLICY, &pol, sizeof(pol)) < 0)
			die("setsockopt IP_XFRM_POLICY (bypass)");
	}
}

static void open_encap_socket(int port)
{
	int es = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in ea = {.sin_family = AF_INET, .sin_port = htons(port)};
	int type = UDP_ENCAP_ESPINUDP;
	if (es < 0 || bind(es, (struct sockaddr *)&ea, sizeof(ea)) < 0)
		die("bind (encap socket)");
	if (setsockopt(es, IPPROTO_UDP, UDP_ENCAP, &type, sizeof(type)) < 0)
		die("setsockopt UDP_ENCAP");
	bypass_socket_policy(es);
}

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: udpflow --from NETNS_PATH --to NETNS_PATH --dst ADDR [--port P] [--count N]\n"
		"               [--size BYTES] [--df | --probe] [--encap-socket PORT] [--window-ms MS]\n"
		"       udpflow --tcp --from NETNS_PATH --to NETNS_PATH --dst ADDR [--port P] [--bytes N]\n"
		"               [--window-ms MS]\n"
		"       udpflow --from X --to NETNS_PATH --dst X --encap-socket PORT --hold-ms MS\n");
	exit(2);
}

/* The TCP flow (--tcp): both ends in this process, polled together until every byte arrived or
 * the window closed. */
static int tcp_flow(const char *from, const char *to, struct sockaddr_storage *ss, socklen_t sslen,
		    int family, int port, long bytes, int window_ms)
{
	static char buf[65536];
	enter_netns(to);
	int ls = socket(family, SOCK_STREAM | SOCK_NONBLOCK, 0);
	int one = 1;
	struct sockaddr_storage any = {0};
	any.ss_family = family;
	((struct sockaddr_in *)&any)->sin_port = htons(port); /* same offset in sockaddr_in6 */
	if (ls < 0 || setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(ls, (struct sockaddr *)&any, family == AF_INET ? sizeof(struct sockaddr_in)
							    : sizeof(struct sockaddr_in6)) < 0 ||
	    listen(ls, 4) < 0)
		die("listen (receiver)");
	enter_netns(from);
	int tx = socket(family, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (tx < 0)
		die("socket (sender)");
	if (connect(tx, (struct sockaddr *)ss, sslen) < 0 && errno != EINPROGRESS)
		die("connect");
	long deadline = now_ms() + window_ms, written = 0, received = 0;
	int connected = 0, rx = -1;
	const char *err = NULL;
	while (now_ms() < deadline && !err && !(connected && received >= bytes)) {
		struct pollfd p[3] = {{.fd = ls, .events = POLLIN},
				      {.fd = tx, .events = connected ? (written < bytes ? POLLOUT : 0) : POLLOUT},
				      {.fd = rx, .events = POLLIN}};
		poll(p, rx >= 0 ? 3 : 2, 10);
		if (rx < 0)
			rx = accept4(ls, NULL, NULL, SOCK_NONBLOCK);
		if (!connected && (p[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
			int e = 0;
			socklen_t len = sizeof(e);
			getsockopt(tx, SOL_SOCKET, SO_ERROR, &e, &len);
			if (e)
				err = strerrorname_np(e);
			else
				connected = 1;
		}
		while (connected && written < bytes) {
			long n = bytes - written < (long)sizeof(buf) ? bytes - written : (long)sizeof(buf);
			ssize_t w = send(tx, buf, n, MSG_NOSIGNAL);
			if (w > 0) {
				written += w;
				continue;
			}
			if (errno != EAGAIN)
				err = strerrorname_np(errno);
			break;
		}
		ssize_t r;
		while (rx >= 0 && (r = recv(rx, buf, sizeof(buf), 0)) > 0)
			received += r;
	}
	if (!connected && !err)
		err = "ETIMEDOUT";
	int outq = 0;
	ioctl(tx, SIOCOUTQ, &outq);
	struct tcp_info ti = {0};
	socklen_t tlen = sizeof(ti);
	getsockopt(tx, IPPROTO_TCP, TCP_INFO, &ti, &tlen);
	printf("udpflow: sent_ok=%d send_failed=%d received=%ld errors=%s acked=%ld written=%ld "
	       "mss=%u pmtu=%u retrans=%u\n",
	       connected, !connected, received, err ? err : "none", written - outq, written,
	       ti.tcpi_snd_mss, ti.tcpi_pmtu, ti.tcpi_total_retrans);
	if (outq > 0) {
		struct linger lg = {.l_onoff = 1, .l_linger = 0};
		setsockopt(tx, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	close(tx);
	return 0;
}

int main(int argc, char **argv)
{
	const char *from = NULL, *to = NULL, *dst = NULL;
	int port = 5555, count = 5, size = 64, encap_port = 0, window_ms = 800;
	int pmtu_mode = -1; /* -1: kernel default */
	int hold_ms = 0, tcp = 0;
	long bytes = 65536;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--df")) { pmtu_mode = IP_PMTUDISC_DO; continue; }
		if (!strcmp(a, "--probe")) { pmtu_mode = IP_PMTUDISC_PROBE; continue; }
		if (!strcmp(a, "--tcp")) { tcp = 1; continue; }
		if (!v)
			usage();
		if (!strcmp(a, "--from")) from = v;
		else if (!strcmp(a, "--to")) to = v;
		else if (!strcmp(a, "--dst")) dst = v;
		else if (!strcmp(a, "--port")) port = atoi(v);
		else if (!strcmp(a, "--count")) count = atoi(v);
		else if (!strcmp(a, "--size")) size = atoi(v);
		else if (!strcmp(a, "--encap-socket")) encap_port = atoi(v);
		else if (!strcmp(a, "--window-ms")) window_ms = atoi(v);
		else if (!strcmp(a, "--hold-ms")) hold_ms = atoi(v);
		else if (!strcmp(a, "--bytes")) bytes = atol(v);
		else usage();
		i++;
	}
	if (!from || !to || !dst || size < 1 || size > 65000 || count < 1)
		usage();

	struct sockaddr_storage ss = {0};
	socklen_t sslen;
	int family;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, dst, &s4->sin_addr) == 1) {
		family = AF_INET;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		sslen = sizeof(*s4);
	} else if (inet_pton(AF_INET6, dst, &s6->sin6_addr) == 1) {
		family = AF_INET6;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		sslen = sizeof(*s6);
	} else {
		fprintf(stderr, "udpflow: not an address: %s\n", dst);
		return 2;
	}

	if (tcp)
		return tcp_flow(from, to, &ss, sslen, family, port, bytes, window_ms);

	/* Receiving side: the listener, and the NAT-T encapsulation socket if asked for. */
	enter_netns(to);
	if (hold_ms) {
		/* only hold the encap socket open for a while (for someone else's test traffic) */
		if (encap_port)
			open_encap_socket(encap_port);
		printf("udpflow: holding\n");
		fflush(stdout);
		usleep(hold_ms * 1000);
		return 0;
	}
	int rx = socket(family, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	if (rx < 0)
		die("socket (receiver)");
	struct sockaddr_storage any = {0};
	any.ss_family = family;
	((struct sockaddr_in *)&any)->sin_port = htons(port); /* same offset in sockaddr_in6 */
	if (bind(rx, (struct sockaddr *)&any, family == AF_INET ? sizeof(struct sockaddr_in)
								 : sizeof(struct sockaddr_in6)) < 0)
		die("bind (receiver)");
	if (encap_port)
		open_encap_socket(encap_port); /* kept open until exit */

	/* Sending side. */
	enter_netns(from);
	int tx = socket(family, SOCK_DGRAM, 0);
	if (tx < 0)
		die("socket (sender)");
	if (pmtu_mode >= 0) {
		int level = family == AF_INET ? IPPROTO_IP : IPPROTO_IPV6;
		int opt = family == AF_INET ? IP_MTU_DISCOVER : IPV6_MTU_DISCOVER;
		/* IPV6_PMTUDISC_DO/PROBE have the same values as the IPv4 ones */
		if (setsockopt(tx, level, opt, &pmtu_mode, sizeof(pmtu_mode)) < 0)
			die("setsockopt MTU_DISCOVER");
	}
	char *buf = calloc(1, size > 65536 ? size : 65536);
	if (!buf)
		die("calloc");
	int sent_ok = 0, send_failed = 0, received = 0;
	char errors[512] = "";
	for (int i = 1; i <= count; i++) {
		snprintf(buf, size, "vm-tests datagram %d", i);
		if (sendto(tx, buf, size, 0, (struct sockaddr *)&ss, sslen) == size) {
			sent_ok++;
			printf("send %d ok\n", i);
		} else {
			const char *name = strerrorname_np(errno);
			send_failed++;
			printf("send %d %s\n", i, name ? name : "unknown");
			if (strlen(errors) + 32 < sizeof(errors)) {
				if (errors[0])
					strcat(errors, ",");
				strcat(errors, name ? name : "unknown");
			}
		}
	}

	/* Wait for the datagrams: until all that were sent arrived, or the window closed. */
	long deadline = now_ms() + window_ms;
	while (received < sent_ok) {
		long left = deadline - now_ms();
		if (left <= 0)
			break;
		struct pollfd p = {.fd = rx, .events = POLLIN};
		if (poll(&p, 1, (int)left) <= 0)
			break;
		while (recv(rx, buf, 65536, 0) >= 0)
			received++;
	}
	printf("udpflow: sent_ok=%d send_failed=%d received=%d errors=%s\n", sent_ok, send_failed,
	       received, errors[0] ? errors : "none");
	return 0;
}
