#include "terminal.h"

#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace pystrobe {
namespace {

constexpr char kEnter[] = "\x1b[?1049h\x1b[?25l\x1b[H\x1b[2J";
constexpr char kLeave[] = "\x1b[?25h\x1b[?1049l";

// For the fatal-signal handler: the termios to put back.
termios g_saved;
volatile sig_atomic_t g_active = 0;

void WriteAll(int fd, const char* data, size_t n) {
  while (n > 0) {
    const ssize_t w = write(fd, data, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    data += w;
    n -= static_cast<size_t>(w);
  }
}

void OnFatalSignal(int sig) {
  if (g_active) {
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &g_saved);
    WriteAll(STDOUT_FILENO, kLeave, sizeof(kLeave) - 1);
  }
  signal(sig, SIG_DFL);
  raise(sig);
}

}  // namespace

absl::Status RawTerminal::Enter() {
  if (active_) return absl::OkStatus();
  if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
    return absl::FailedPreconditionError(
        "top needs a terminal (stdin and stdout)");
  }
  if (tcgetattr(STDIN_FILENO, &saved_) != 0) {
    return absl::FailedPreconditionError(
        std::string("cannot read the ") +
        "terminal's settings: " + std::strerror(errno));
  }
  termios raw = saved_;
  raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO);
  raw.c_cc[VMIN] = 0;
  raw.c_cc[VTIME] = 0;
  g_saved = saved_;
  g_active = 1;
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) {
    signal(sig, OnFatalSignal);
  }
  if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) != 0) {
    g_active = 0;
    return absl::FailedPreconditionError(
        std::string("cannot set the terminal: ") + std::strerror(errno));
  }
  active_ = true;
  Write(kEnter);
  return absl::OkStatus();
}

void RawTerminal::Restore() {
  if (!active_) return;
  Write(kLeave);
  tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_);
  g_active = 0;
  active_ = false;
}

std::string RawTerminal::ReadKeys() {
  std::string keys;
  if (!active_) return keys;
  char buf[64];
  for (;;) {
    const ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    keys.append(buf, static_cast<size_t>(n));
    if (keys.size() > 4096) break;
  }
  return keys;
}

void RawTerminal::Size(int* columns, int* rows) const {
  winsize ws{};
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 &&
      ws.ws_row > 0) {
    *columns = ws.ws_col;
    *rows = ws.ws_row;
    return;
  }
  *columns = 80;
  *rows = 24;
}

void RawTerminal::Write(const std::string& bytes) {
  WriteAll(STDOUT_FILENO, bytes.data(), bytes.size());
}

}  // namespace pystrobe
