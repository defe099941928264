/*
 * A pause canary in C (pause-canary.ts builds it with the machine's C compiler and falls back to the
 * Node.js canary, pause-canary-process.ts, where there is none). It does what that one does: pin itself to
 * one core at SCHED_FIFO priority 1, wake every PERIOD_MS, and report each wake-up that came at least
 * REPORT_MS late. Written in C for its cost: the Node.js canaries used 28.2 s of CPU in an 18-minute
 * benchmark (1.4 % of a 2-core machine, taken from the server under test as much as from anything), a
 * timer in a V8 isolate and libuv's loop per wake-up; this loop is a clock_nanosleep and a clock read.
 *
 * Usage: pause-canary PERIOD_MS REPORT_MS CORE
 * Output, one line each, flushed at once:
 *   ready PINNED FIFO          PINNED and FIFO are 1 where the kernel granted them, else 0
 *   pause START END DURATION   wall-clock ms (see below): the wake-ups before and after, and how late
 * It ends when its parent does (PR_SET_PDEATHSIG) or on SIGTERM.
 *
 * Wall clock as Node.js's performance.timeOrigin + performance.now(): the real time read once at start,
 * advanced by the monotonic clock, so its readings compare with the benchmark's across processes and
 * never jump with the system clock.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

static double ms_of(const struct timespec *t) {
  return (double)t->tv_sec * 1e3 + (double)t->tv_nsec / 1e6;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s PERIOD_MS REPORT_MS CORE\n", argv[0]);
    return 2;
  }
  const long period_ms = atol(argv[1]);
  const double report_ms = atof(argv[2]);
  const int core = atoi(argv[3]);
  if (period_ms <= 0 || period_ms >= 1000 || core < 0 || core >= CPU_SETSIZE) {
    fprintf(stderr, "pause-canary: bad arguments\n");
    return 2;
  }
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() == 1) return 0; /* the parent ended before the line above */

  cpu_set_t cpus;
  CPU_ZERO(&cpus);
  CPU_SET(core, &cpus);
  const int is_pinned = sched_setaffinity(0, sizeof cpus, &cpus) == 0;
  const struct sched_param fifo = { .sched_priority = 1 };
  const int is_fifo = sched_setscheduler(0, SCHED_FIFO, &fifo) == 0;

  struct timespec real_start, mono_start;
  clock_gettime(CLOCK_REALTIME, &real_start);
  clock_gettime(CLOCK_MONOTONIC, &mono_start);
  const double wall_offset_ms = ms_of(&real_start) - ms_of(&mono_start);

  setvbuf(stdout, NULL, _IOLBF, 0);
  printf("ready %d %d\n", is_pinned, is_fifo);

  struct timespec next = mono_start, now;
  double last_ms = ms_of(&mono_start);
  for (;;) {
    next.tv_nsec += period_ms * 1000000L;
    while (next.tv_nsec >= 1000000000L) {
      next.tv_nsec -= 1000000000L;
      next.tv_sec += 1;
    }
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
    clock_gettime(CLOCK_MONOTONIC, &now);
    const double now_ms = ms_of(&now);
    const double pause_ms = now_ms - last_ms - (double)period_ms;
    if (pause_ms >= report_ms) {
      const double end_ms = now_ms + wall_offset_ms;
      printf("pause %.3f %.3f %.3f\n", end_ms - (now_ms - last_ms), end_ms, pause_ms);
    }
    last_ms = now_ms;
    /* After a pause the next wake-up is a period from now, not a burst of the ones missed. */
    if (ms_of(&next) < now_ms) next = now;
  }
}
