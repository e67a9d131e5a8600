// Pushing closed windows to a fleet's profiling backend (`record --every S
// --push URL`): an OpenTelemetry Collector over OTLP/HTTP (the profiles
// signal; http:// or https:// URLs), or Grafana Pyroscope's ingest API
// (pyroscope+http:// or pyroscope+https://). A Pusher owns one sender
// thread: the sampling thread hands it a window (Enqueue never waits on the
// network), and it sends windows in order, retrying with backoff while the
// backend is away. Windows that cannot be sent wait in a bounded queue in
// memory or, with a spool folder, on disk (spool.h); what no longer fits is
// dropped, oldest first, and counted. A refusal that retrying cannot fix
// (401, 403, 400, ...) drops the window, counted, with one line on stderr.
//
//   ASSIGN_OR_RETURN(PushTarget target, ParsePushTarget("http://otel:4318"));
//   PushOptions o;  o.target = target;  o.spool_dir = "/var/spool/pystrobe";
//   ASSIGN_OR_RETURN(std::unique_ptr<Pusher> p, Pusher::Start(o, PrintLine));
//   p->Enqueue(window);               // from the sampling thread
//   PushCounts c = p->Finish(10);     // at the end: up to 10 s to drain
#ifndef PYSTROBE_RECORDER_PUSH_H_
#define PYSTROBE_RECORDER_PUSH_H_

#include <sys/types.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "pystrobe/http/http.h"
#include "pystrobe/profile/profile.h"
#include "pystrobe/recorder/spool.h"

namespace pystrobe {

enum class PushProtocol { kOtlp, kPyroscope };

struct PushTarget {
  PushProtocol protocol = PushProtocol::kOtlp;
  Url url;  // OTLP: "/" becomes /v1development/profiles; Pyroscope: its base
  std::string given;  // as the user wrote it, for messages
};

// "http://host:4318" (OTLP, default path /v1development/profiles),
// "https://...", "pyroscope+http://host:4040" (Pyroscope's /ingest below
// the URL's path). InvalidArgument otherwise.
absl::StatusOr<PushTarget> ParsePushTarget(const std::string& text);

// Who was profiled: OTLP resource attributes, Pyroscope's app name and
// labels.
struct PushIdentity {
  std::string service;  // --service; "" = from the profile's command line
  std::string host;     // host.name; "" = gethostname()
  pid_t pid = 0;        // process.pid; 0 = not one process
  // --push-label KEY=VALUE: extra resource attributes / Pyroscope labels.
  std::vector<std::pair<std::string, std::string>> labels;
};

// The service name a command line suggests: the script or module a Python
// interpreter runs ("python3 -m http.server" -> "http.server",
// "/srv/venv/bin/python app/main.py" -> "main"), else the program's base
// name ("gunicorn: master [app:app]" -> "gunicorn").
std::string ServiceNameFromCommandLine(const std::string& command_line);

// The request that pushes `window` (a closed window, its comments holding
// command_line= and python_version=) to `target`: its path and query, body
// and content type. OTLP: an ExportProfilesServiceRequest (profile/otlp.h).
// Pyroscope: POST /ingest?name=SERVICE{labels}&from&until&format=pprof&
// sampleRate&spyName=pystrobe with the gzipped pprof as the multipart
// field `profile`.
absl::StatusOr<SpooledWindow> BuildPushRequest(const PushTarget& target,
                                               const PushIdentity& who,
                                               const Profile& window);

struct PushOptions {
  PushTarget target;
  HttpHeaders headers;    // --push-header
  HttpOptions http;       // --push-timeout, --push-ca
  std::string spool_dir;  // "" = no spool: a queue in memory
  int64_t spool_max_bytes = 64 << 20;
  // Without a spool, the windows that wait in memory; more drop the oldest.
  size_t memory_windows = 16;
  // Backoff between attempts: initial, doubling up to the max.
  double backoff_initial_s = 1;
  double backoff_max_s = 10;
};

// What happened to the windows. A window counts once in `sent` or
// `dropped` (or is still waiting: queued); `retried` and `spooled` count
// windows that needed another attempt or waited on disk.
struct PushCounts {
  uint64_t enqueued = 0;
  uint64_t sent = 0;
  uint64_t retried = 0;
  uint64_t spooled = 0;
  uint64_t dropped = 0;
  uint64_t waiting = 0;  // in memory or in the spool, not sent (yet)
};

// "sent=N retried=R spooled=S dropped=D": the profiles' comment
// (pystrobe.push=...) and the summary's figures.
std::string FormatPushCounts(const PushCounts& c);

class Pusher {
 public:
  // Messages (one line each, no newline) go to `report`, from the sender
  // thread: the first failure of an outage, each change of error, the
  // return of the backend, each kind of refusal once.
  using Report = std::function<void(const std::string& line)>;

  // Opens the spool (an error names the folder) and starts the thread.
  // Windows a previous recording left in the spool are sent first.
  static absl::StatusOr<std::unique_ptr<Pusher>> Start(PushOptions options,
                                                       Report report);
  ~Pusher();

  // Hands a window to the sender; never waits on the network.
  void Enqueue(SpooledWindow window);
  PushCounts counts() const;

  // Stops: keeps sending what waits for up to `drain_s` seconds (one
  // attempt per window once the backend fails), then leaves the rest in
  // the spool (without one, drops it: counted). Returns the final counts.
  PushCounts Finish(double drain_s);

 private:
  Pusher(PushOptions options, Report report, std::optional<Spool> spool);
  void Run();
  // One attempt: OK (sent), Unavailable (retry later), or another error
  // (the window is dropped).
  absl::Status Send(const SpooledWindow& w);
  void ReportError(const std::string& line);

  PushOptions options_;
  Report report_;
  std::optional<Spool> spool_;  // touched by the sender thread only

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<SpooledWindow> queue_;  // handed over, not spooled
  PushCounts counts_;
  bool finishing_ = false;
  int64_t drain_deadline_ns_ = 0;
  std::string last_error_;    // printed; cleared when a send succeeds
  std::string last_warning_;  // a backend's warning on success, printed
  std::vector<int> refusals_reported_;
  std::thread thread_;
};

}  // namespace pystrobe

#endif  // PYSTROBE_RECORDER_PUSH_H_
