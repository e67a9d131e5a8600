// The terminal of `pystrobe top`: raw keys without echo (termios: no
// ICANON, no ECHO, reads that never block: VMIN = VTIME = 0, so no
// O_NONBLOCK is left on a file description the shell shares), the
// alternate screen and a hidden cursor; everything is put back by the
// destructor, by Restore(), and by the handler of fatal signals (SIGSEGV,
// SIGABRT, ...), which restores the saved termios (tcsetattr is
// async-signal-safe) before dying of the signal.
#ifndef PYSTROBE_SRC_CLI_TERMINAL_H_
#define PYSTROBE_SRC_CLI_TERMINAL_H_

#include <termios.h>

#include <string>

#include "absl/status/status.h"

namespace pystrobe {

class RawTerminal {
 public:
  RawTerminal() = default;
  ~RawTerminal() { Restore(); }
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;

  // Switches stdin/stdout (both terminals) to the live screen.
  absl::Status Enter();
  // Puts the terminal back as it was (idempotent).
  void Restore();
  bool active() const { return active_; }

  // The keys typed since the last call ("" if none); never blocks.
  std::string ReadKeys();
  // The terminal's size, 80x24 when unknown.
  void Size(int* columns, int* rows) const;
  void Write(const std::string& bytes);

 private:
  bool active_ = false;
  termios saved_{};
};

}  // namespace pystrobe

#endif  // PYSTROBE_SRC_CLI_TERMINAL_H_
