/* Raw TCP ping-pong over loopback: the physical reference of bench/run. An echo thread and a
 * client thread in one process exchange --size byte messages (client writes a whole message, the
 * echo thread reads it whole and writes it back) with TCP_NODELAY, as close to a "do-nothing RPC"
 * as the kernel allows. With --size=100 it is the latency floor; with 1 MiB or 16 MiB messages its
 * size x round trips/s is the loopback throughput an RPC stack could at best reach.
 * Placement decides latency on a small VM (waking another vCPU costs tens of microseconds), so
 * it is chosen explicitly: pin the whole process (taskset -c 0) for same-core, or pass --cross to
 * put the client on CPU 0 and the echo thread on CPU 1, where an unpinned RPC stack's client and
 * I/O thread usually end up.
 *
 *   tcp_pingpong --size=100 --duration=2 --warmup=0.3 [--cross]
 * Prints one JSON line, like the C++ client loops: {"ops":..,"rate":..,"p50_us":..,...}. */
#define _GNU_SOURCE /* pthread_setaffinity_np */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static size_t g_size = 100;
static int g_cross = 0;

static void pin_self(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int read_full(int fd, char *buf, size_t n) {
  while (n > 0) {
    ssize_t r = read(fd, buf, n);
    if (r <= 0) return -1;
    buf += r;
    n -= (size_t)r;
  }
  return 0;
}

static int write_full(int fd, const char *buf, size_t n) {
  while (n > 0) {
    ssize_t r = write(fd, buf, n);
    if (r <= 0) return -1;
    buf += r;
    n -= (size_t)r;
  }
  return 0;
}

static void *echo_main(void *arg) {
  int fd = *(int *)arg;
  if (g_cross) pin_self(1);
  char *buf = malloc(g_size);
  while (read_full(fd, buf, g_size) == 0 && write_full(fd, buf, g_size) == 0) {
  }
  free(buf);
  close(fd);
  return NULL;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  double duration = 2.0, warmup = 0.3;
  for (int i = 1; i < argc; ++i) {
    if (strncmp(argv[i], "--size=", 7) == 0) g_size = (size_t)atol(argv[i] + 7);
    else if (strncmp(argv[i], "--duration=", 11) == 0) duration = atof(argv[i] + 11);
    else if (strncmp(argv[i], "--warmup=", 9) == 0) warmup = atof(argv[i] + 9);
    else if (strcmp(argv[i], "--cross") == 0) g_cross = 1;
    else {
      fprintf(stderr, "usage: %s --size=N --duration=S --warmup=S [--cross]\n", argv[0]);
      return 2;
    }
  }
  int one = 1;
  int ls = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t alen = sizeof addr;
  if (ls < 0 || bind(ls, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(ls, 1) != 0 ||
      getsockname(ls, (struct sockaddr *)&addr, &alen) != 0) {
    perror("listen");
    return 1;
  }
  int cs = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(cs, (struct sockaddr *)&addr, sizeof addr) != 0) {
    perror("connect");
    return 1;
  }
  int ss = accept(ls, NULL, NULL);
  close(ls);
  setsockopt(cs, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  setsockopt(ss, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  pthread_t echo;
  pthread_create(&echo, NULL, echo_main, &ss);
  if (g_cross) pin_self(0);

  char *buf = malloc(g_size);
  memset(buf, 'x', g_size);
  size_t cap = 1 << 16, n = 0;
  double *lat = malloc(cap * sizeof *lat);
  double t_start = now_s(), t_measure = t_start + warmup, t_end = t_measure + duration;
  for (;;) {
    double t0 = now_s();
    if (t0 >= t_end) break;
    if (write_full(cs, buf, g_size) != 0 || read_full(cs, buf, g_size) != 0) {
      fprintf(stderr, "ping-pong failed\n");
      return 1;
    }
    if (t0 < t_measure) continue;
    if (n == cap) lat = realloc(lat, (cap *= 2) * sizeof *lat);
    lat[n++] = (now_s() - t0) * 1e6;
  }
  double secs = now_s() - t_measure;
  shutdown(cs, SHUT_RDWR);
  close(cs);
  pthread_join(echo, NULL);
  qsort(lat, n, sizeof *lat, cmp_double);
  double p50 = n ? lat[n / 2] : 0, p99 = n ? lat[(size_t)(n * 0.99)] : 0;
  printf("{\"ops\":%zu,\"secs\":%.4f,\"rate\":%.1f,\"p50_us\":%.1f,\"p99_us\":%.1f,\"errors\":0,"
         "\"mb_per_s\":%.1f}\n",
         n, secs, n / secs, p50, p99, n * (double)g_size / secs / 1e6);
  free(lat);
  free(buf);
  return 0;
}
