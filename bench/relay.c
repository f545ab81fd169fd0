/* The floor of bench row 15: what any proxy pays per request on this machine.
   One thread, epoll, no HTTP: each accepted connection on 127.0.0.1:LISTEN is
   relayed byte for byte to 127.0.0.1:UPSTREAM (TCP_NODELAY on both), one read
   and one write per message each way, the same system calls as the router's
   (bench/router.py measures both in the same run).

       cc -O2 -o relay bench/relay.c && ./relay LISTEN UPSTREAM */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAXFD 65536
static int peer[MAXFD];
static char buf[65536];

int main(int argc, char **argv) {
  if (argc != 3) { fprintf(stderr, "usage: relay LISTEN UPSTREAM\n"); return 2; }
  int one = 1, ls = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1]))};
  struct sockaddr_in up = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
  a.sin_addr.s_addr = up.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(ls, (void *)&a, sizeof a) || listen(ls, 128)) { perror("relay: listen"); return 1; }
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls}, evs[64];
  epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
  for (;;) {
    int n = epoll_wait(ep, evs, 64, -1);
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd;
      if (fd == ls) {
        int c = accept(ls, 0, 0), u = socket(AF_INET, SOCK_STREAM, 0);
        if (c < 0 || u < 0 || c >= MAXFD || u >= MAXFD || connect(u, (void *)&up, sizeof up)) {
          if (c >= 0) close(c);
          if (u >= 0) close(u);
          continue;
        }
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        setsockopt(u, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        peer[c] = u;
        peer[u] = c;
        ev.data.fd = c;
        epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
        ev.data.fd = u;
        epoll_ctl(ep, EPOLL_CTL_ADD, u, &ev);
        continue;
      }
      ssize_t r = read(fd, buf, sizeof buf);
      if (r <= 0) {
        close(peer[fd]);
        close(fd);
        continue;
      }
      /* Loopback, small messages: a blocking socket's write takes them whole. */
      for (ssize_t off = 0; off < r;) {
        ssize_t w = write(peer[fd], buf + off, r - off);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) break;
        off += w;
      }
    }
  }
}
