// The screen of `pystrobe top`: what it shows of a LiveView (plain text
// lines that fit the terminal, ASCII only, so it works over any SSH
// session) and what each key does. No terminal I/O here (src/cli/top.cc
// does that), so both are unit-tested.
//
//   TopState state;
//   if (HandleKeys(input, view.Threads(), &state) == KeyResult::kQuit) ...
//   std::vector<std::string> lines = RenderTop(view, state, header, 80, 24);
//   std::string bytes = ScreenBytes(lines);   // ANSI: home, lines, clear
#ifndef PYSTROBE_SRC_CLI_TOP_SCREEN_H_
#define PYSTROBE_SRC_CLI_TOP_SCREEN_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "pystrobe/recorder/live_view.h"

namespace pystrobe {

struct TopState {
  ViewQuery query;
  bool paused = false;
  bool help = false;
  // '/' typing a thread filter: the text so far.
  bool editing = false;
  std::string edit;
  // The thread 't' selected last (an index into the thread list; -1: all).
  int thread_index = -1;
  // The process 'P' selected last (an index into the processes of the
  // thread list, in their order there; -1: all).
  int process_index = -1;
};

// What the header says besides the view.
struct TopHeader {
  pid_t pid = 0;                 // the (first) target
  std::vector<pid_t> more_pids;  // the other targets (several --pid)
  bool subprocesses = false;     // and their Python descendants
  std::string mode = "wall";     // wall|cpu, with " gil" / " idle"
  double rate_hz = 0;
  double achieved_hz = 0;
  double elapsed_s = 0;
  uint64_t errors = 0;
  // The targets' threads since start: on a CPU, waiting for one, waits
  // (RunSummary): above kOverloadedWaitShare the status line says so.
  double ran_s = 0, wait_s = 0, waits = 0;
};

enum class KeyResult { kNone, kChanged, kQuit };

// Applies the keys in `input` (bytes read from the terminal) to `state`:
// q quit, p or space pause, s sort (self -> total -> name), r recent / since
// start, t next thread, P next process, a all threads, / filter by thread
// name, tid or pid:PID (Enter applies, Esc cancels), h or ? help. Arrow keys
// and other escape sequences are ignored.
KeyResult HandleKeys(const std::string& input,
                     const std::vector<ThreadRow>& threads, TopState* state);

// The screen as `height` lines of at most `width` characters (function
// names are truncated, never wrapped). With several processes (the header
// says so, or the view has them) the title counts the processes of the
// span and the foot lists them, each with its pid, a short command line,
// its share and its threads; else the foot lists the threads.
std::vector<std::string> RenderTop(const LiveView& view, const TopState& state,
                                   const TopHeader& header, int width,
                                   int height);

// The bytes that draw `lines` over the previous screen: cursor home, each
// line cleared to its end, the title line in reverse video.
std::string ScreenBytes(const std::vector<std::string>& lines);

}  // namespace pystrobe

#endif  // PYSTROBE_SRC_CLI_TOP_SCREEN_H_
