// The machine's floor for one sample, for bench/cost_vs_peers.py.
//
// A loop that does what any out-of-process sampler must do per sample and
// nothing else: one wake-up at an absolute deadline (clock_nanosleep
// TIMER_ABSTIME, the same timer slack and scheduling class as pystrobe's
// sampler), then one process_vm_readv of the remote ranges given on the
// command line (the script passes the ranges pystrobe itself read in its
// last steady-state sample, so the bytes, pages and iovecs are the same).
// Optional extra reads per tick (a procfs file with pread) measure what one
// more syscall costs right after a wake-up. `--pid PID` starts another
// process's ranges: each process gets one process_vm_readv per tick, after
// the same single wake-up (a sampler of several processes).
//
// usage: cost_floor PID SECONDS RATE_HZ [--pread FILE]...
//                   [ADDR:LEN]... [--pid PID [ADDR:LEN]...]...
// prints: iterations=N user_us=U sys_us=S failed=F
//
// Built by the script with `cc -O2`; not part of the CMake build.
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define MAX_RANGES 4096
#define MAX_FILES 16
#define MAX_PIDS 64

// One process's ranges: remote[first, first + count), `total` bytes.
struct Group {
  pid_t pid;
  int first, count;
  size_t total;
};

static int64_t Now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int main(int argc, char** argv) {
  if (argc < 4) {
    fprintf(stderr,
            "usage: cost_floor PID SECONDS RATE_HZ [--pread FILE]... "
            "[ADDR:LEN]... [--pid PID [ADDR:LEN]...]...\n");
    return 2;
  }
  static struct Group groups[MAX_PIDS];
  int ngroups = 1;
  groups[0].pid = (pid_t)atoi(argv[1]);
  const double seconds = atof(argv[2]);
  const double rate = atof(argv[3]);
  static struct iovec remote[MAX_RANGES];
  int ranges = 0;
  size_t total = 0;
  int files[MAX_FILES];
  int nfiles = 0;
  for (int i = 4; i < argc; ++i) {
    if (strcmp(argv[i], "--pread") == 0 && i + 1 < argc) {
      if (nfiles == MAX_FILES) return 2;
      files[nfiles] = open(argv[++i], O_RDONLY | O_CLOEXEC);
      if (files[nfiles] < 0) {
        perror(argv[i]);
        return 1;
      }
      ++nfiles;
      continue;
    }
    if (strcmp(argv[i], "--pid") == 0 && i + 1 < argc) {
      if (ngroups == MAX_PIDS) return 2;
      groups[ngroups].pid = (pid_t)atoi(argv[++i]);
      groups[ngroups].first = ranges;
      ++ngroups;
      continue;
    }
    unsigned long long address = 0, length = 0;
    if (sscanf(argv[i], "%llx:%llu", &address, &length) != 2 ||
        ranges == MAX_RANGES) {
      fprintf(stderr, "cost_floor: bad range '%s'\n", argv[i]);
      return 2;
    }
    remote[ranges].iov_base = (void*)(uintptr_t)address;
    remote[ranges].iov_len = (size_t)length;
    total += (size_t)length;
    ++groups[ngroups - 1].count;
    groups[ngroups - 1].total += (size_t)length;
    ++ranges;
  }
  char* local_buffer = malloc(total > 0 ? total : 1);
  const int64_t period = (int64_t)(1e9 / rate);
  // As pystrobe's sampler: timer slack 1/50 of the period, SCHED_FIFO 1
  // where allowed (else whatever the caller gave).
  long slack = period / 50;
  if (slack < 1) slack = 1;
  if (slack > 50000) slack = 50000;
  prctl(PR_SET_TIMERSLACK, (unsigned long)slack, 0, 0, 0);
  struct sched_param fifo = {.sched_priority = 1};
  sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, &fifo);

  const int64_t start = Now();
  const int64_t end = start + (int64_t)(seconds * 1e9);
  uint64_t iterations = 0, failed = 0;
  char scratch[1024];
  for (int64_t k = 1;; ++k) {
    const int64_t deadline = start + k * period;
    if (deadline >= end) break;
    struct timespec ts = {(time_t)(deadline / 1000000000),
                          (long)(deadline % 1000000000)};
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
    for (int g = 0; g < ngroups; ++g) {
      if (groups[g].count == 0) continue;
      struct iovec local = {local_buffer, groups[g].total};
      if (process_vm_readv(groups[g].pid, &local, 1, remote + groups[g].first,
                           (unsigned long)groups[g].count,
                           0) != (ssize_t)groups[g].total) {
        ++failed;
      }
    }
    for (int f = 0; f < nfiles; ++f) {
      if (pread(files[f], scratch, sizeof(scratch), 0) <= 0) ++failed;
    }
    ++iterations;
    // Deadlines that already passed are skipped, as pystrobe does.
    const int64_t now = Now();
    if (now > start + (k + 1) * period) k = (now - start) / period;
  }
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  printf("iterations=%llu user_us=%lld sys_us=%lld failed=%llu\n",
         (unsigned long long)iterations,
         (long long)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec,
         (long long)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec,
         (unsigned long long)failed);
  free(local_buffer);
  return 0;
}
