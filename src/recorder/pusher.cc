// The sender thread of --push (push.h): windows in order, retries with
// backoff, the spool while the backend is away, and one line per kind of
// trouble rather than one per attempt.
#include <time.h>

#include <algorithm>
#include <chrono>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "pystrobe/base/clock.h"
#include "pystrobe/profile/otlp.h"
#include "pystrobe/recorder/push.h"

namespace pystrobe {
namespace {

std::chrono::steady_clock::time_point AtNs(int64_t ns) {
  // CLOCK_MONOTONIC is steady_clock's clock on Linux.
  return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(ns));
}

// The start of a response body, for a message: one line, printable.
std::string Snippet(const std::string& body) {
  std::string s = body.substr(0, std::min<size_t>(body.size(), 160));
  for (char& c : s) {
    if (!absl::ascii_isprint(static_cast<unsigned char>(c))) c = ' ';
  }
  s = std::string(absl::StripAsciiWhitespace(s));
  return s.empty() ? "" : absl::StrCat(" (", s, ")");
}

const char* RefusalHint(int status) {
  switch (status) {
    case 401:
      return "; the backend wants credentials: check --push-header";
    case 403:
      return "; the credentials were refused: check --push-header";
    case 404:
      return "; check the URL's path";
    case 413:
      return "; the window is larger than the backend takes: a shorter "
             "--every";
    default:
      return "";
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<Pusher>> Pusher::Start(PushOptions options,
                                                      Report report) {
  std::optional<Spool> spool;
  if (!options.spool_dir.empty()) {
    absl::StatusOr<Spool> opened =
        Spool::Open(options.spool_dir, options.spool_max_bytes);
    if (!opened.ok()) return opened.status();
    spool.emplace(*std::move(opened));
  }
  std::unique_ptr<Pusher> p(
      new Pusher(std::move(options), std::move(report), std::move(spool)));
  p->thread_ = std::thread([raw = p.get()] { raw->Run(); });
  return p;
}

Pusher::Pusher(PushOptions options, Report report, std::optional<Spool> spool)
    : options_(std::move(options)),
      report_(std::move(report)),
      spool_(std::move(spool)) {
  if (spool_) counts_.waiting = spool_->size();
}

Pusher::~Pusher() {
  if (thread_.joinable()) Finish(0);
}

void Pusher::Enqueue(SpooledWindow window) {
  bool dropped = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++counts_.enqueued;
    ++counts_.waiting;
    queue_.push_back(std::move(window));
    // Without a spool, memory is the bound; with one, the sender moves
    // windows to disk promptly, and this bound only guards against a
    // sender stuck in one request.
    while (queue_.size() > options_.memory_windows) {
      queue_.pop_front();
      ++counts_.dropped;
      --counts_.waiting;
      dropped = true;
    }
  }
  cv_.notify_one();
  if (dropped) {
    ReportError(absl::StrCat(
        "push to ", options_.target.given, ": ", options_.memory_windows,
        " windows wait in memory already: dropped the oldest",
        spool_ ? "" : " (--spool DIR keeps more on disk)"));
  }
}

PushCounts Pusher::counts() const {
  std::lock_guard<std::mutex> lock(mu_);
  return counts_;
}

void Pusher::ReportError(const std::string& line) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (line == last_error_) return;
    last_error_ = line;
  }
  if (report_) report_(line);
}

absl::Status Pusher::Send(const SpooledWindow& w) {
  HttpRequest request;
  request.url = options_.target.url;
  request.url.path = w.target;
  request.headers = options_.headers;
  request.headers.emplace_back("Content-Type", w.content_type);
  request.body = w.body;
  absl::StatusOr<HttpResponse> response = SendHttp(request, options_.http);
  if (!response.ok()) {
    if (absl::IsFailedPrecondition(response.status())) {
      return response.status();  // e.g. an unreadable --push-ca: no retry
    }
    return absl::UnavailableError(response.status().message());
  }
  const int status = response->status;
  if (status >= 200 && status < 300) {
    if (options_.target.protocol != PushProtocol::kOtlp ||
        response->body.empty()) {
      return absl::OkStatus();
    }
    // OTLP's partial success: a 200 whose body says some profiles were
    // rejected (sending them again would not help) or carries a warning.
    // A body that is not the protobuf response (a JSON answer) says
    // nothing we read.
    absl::StatusOr<OtlpExportResult> r =
        ParseOtlpExportResponse(response->body);
    if (!r.ok()) return absl::OkStatus();
    if (r->rejected_profiles > 0) {
      return absl::PermissionDeniedError(
          absl::StrFormat("the backend rejected %d of its profiles%s",
                          r->rejected_profiles, Snippet(r->error_message)));
    }
    if (!r->error_message.empty()) {
      // Once per distinct warning (ReportError's memory ends with an error).
      const std::string line =
          absl::StrCat("push to ", options_.target.given,
                       ": the backend took a window with a warning",
                       Snippet(r->error_message));
      bool fresh = false;
      {
        std::lock_guard<std::mutex> lock(mu_);
        fresh = line != last_warning_;
        if (fresh) last_warning_ = line;
      }
      if (fresh && report_) report_(line);
    }
    return absl::OkStatus();
  }
  const std::string what = absl::StrCat("HTTP ", status, " ", response->reason,
                                        Snippet(response->body));
  if (status == 408 || status == 429 || status >= 500) {
    return absl::UnavailableError(what);
  }
  return absl::PermissionDeniedError(absl::StrCat(what, RefusalHint(status)));
}

void Pusher::Run() {
  double backoff_s = options_.backoff_initial_s;
  int64_t next_attempt_ns = 0;
  int64_t outage_start_ns = 0;
  bool head_failed = false;  // the oldest waiting window failed before
  bool spool_full_reported = false;
  bool drain_started = false;
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    if (finishing_ && !drain_started) {
      // The end of the recording: one more attempt now, whatever the
      // backoff said (an outage may have just ended).
      drain_started = true;
      next_attempt_ns = 0;
    }
    const int64_t now = ClockNs(CLOCK_MONOTONIC);
    const bool in_backoff = now < next_attempt_ns;
    // Windows that cannot go now wait on disk, behind the spool's.
    if (spool_ && !queue_.empty() &&
        (in_backoff || !spool_->empty() || finishing_)) {
      SpooledWindow w = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      int dropped = 0;
      absl::Status added = spool_->Add(w, &dropped);
      lock.lock();
      if (added.ok()) {
        ++counts_.spooled;
      } else {
        ++counts_.dropped;
        --counts_.waiting;
      }
      counts_.dropped += static_cast<uint64_t>(dropped);
      counts_.waiting -= static_cast<uint64_t>(dropped);
      if (!added.ok() || (dropped > 0 && !spool_full_reported)) {
        spool_full_reported = added.ok();
        lock.unlock();
        ReportError(
            added.ok()
                ? absl::StrFormat("push to %s: spool %s is full (%d MB): "
                                  "dropped the oldest window(s)",
                                  options_.target.given, spool_->dir(),
                                  options_.spool_max_bytes >> 20)
                : absl::StrCat("push to ", options_.target.given,
                               ": cannot spool a window: ", added.message()));
        lock.lock();
      }
      continue;
    }
    const bool have = !queue_.empty() || (spool_ && !spool_->empty());
    if (finishing_ &&
        (!have || now >= drain_deadline_ns_ || (head_failed && in_backoff))) {
      break;
    }
    if (!have) {
      cv_.wait(lock);
      continue;
    }
    if (in_backoff) {
      const int64_t until = finishing_
                                ? std::min(next_attempt_ns, drain_deadline_ns_)
                                : next_attempt_ns;
      cv_.wait_until(lock, AtNs(until));
      continue;
    }
    // The oldest window: the spool's, else the first in memory.
    SpooledWindow w;
    const bool from_spool = spool_ && !spool_->empty();
    if (from_spool) {
      lock.unlock();
      absl::StatusOr<SpooledWindow> oldest = spool_->Oldest();
      lock.lock();
      if (!oldest.ok()) {
        spool_->RemoveOldest();
        ++counts_.dropped;
        --counts_.waiting;
        lock.unlock();
        ReportError(absl::StrCat("push: dropped a spooled window: ",
                                 oldest.status().message()));
        lock.lock();
        continue;
      }
      w = *std::move(oldest);
    } else {
      w = std::move(queue_.front());
      queue_.pop_front();
    }
    lock.unlock();
    const absl::Status sent = Send(w);
    lock.lock();
    if (sent.ok() || !absl::IsUnavailable(sent)) {
      if (from_spool) spool_->RemoveOldest();
      --counts_.waiting;
      if (sent.ok()) {
        ++counts_.sent;
        if (head_failed) ++counts_.retried;
      } else {
        ++counts_.dropped;
      }
      head_failed = false;
    }
    if (sent.ok()) {
      if (outage_start_ns > 0) {
        const double away_s =
            static_cast<double>(ClockNs(CLOCK_MONOTONIC) - outage_start_ns) /
            1e9;
        const std::string line =
            counts_.waiting > 0
                ? absl::StrFormat(
                      "push to %s: the backend is back after %.0f s; %u more "
                      "windows wait and go in order",
                      options_.target.given, away_s, counts_.waiting)
                : absl::StrFormat(
                      "push to %s: the backend is back after %.0f s; the "
                      "windows that waited were sent",
                      options_.target.given, away_s);
        last_error_.clear();
        lock.unlock();
        if (report_) report_(line);
        lock.lock();
      }
      last_error_.clear();
      outage_start_ns = 0;
      backoff_s = options_.backoff_initial_s;
      next_attempt_ns = 0;
      spool_full_reported = false;
      continue;
    }
    if (!absl::IsUnavailable(sent)) {
      // Refused: retrying would not help. One line per kind of refusal.
      lock.unlock();
      ReportError(absl::StrCat(
          "push to ", options_.target.given,
          absl::IsPermissionDenied(sent) ? " refused a window: " : ": ",
          sent.message(), "; such windows are dropped (counted)"));
      lock.lock();
      continue;
    }
    // The backend is away: try again after the backoff, this window first.
    head_failed = true;
    if (!from_spool) queue_.push_front(std::move(w));
    if (outage_start_ns == 0) outage_start_ns = ClockNs(CLOCK_MONOTONIC);
    next_attempt_ns =
        ClockNs(CLOCK_MONOTONIC) + static_cast<int64_t>(backoff_s * 1e9);
    backoff_s = std::min(backoff_s * 2, options_.backoff_max_s);
    lock.unlock();
    ReportError(absl::StrCat(
        "push to ", options_.target.given, " failed: ", sent.message(),
        "; retrying with backoff, windows wait ",
        spool_
            ? absl::StrCat("in ", spool_->dir())
            : absl::StrCat("in memory (up to ", options_.memory_windows, ")")));
    lock.lock();
  }
  // Finishing: what is left waits in the spool for the next recording, or
  // is lost without one.
  while (!queue_.empty()) {
    SpooledWindow w = std::move(queue_.front());
    queue_.pop_front();
    int dropped = 0;
    if (spool_ && spool_->Add(w, &dropped).ok()) {
      ++counts_.spooled;
    } else {
      ++counts_.dropped;
      --counts_.waiting;
    }
    counts_.dropped += static_cast<uint64_t>(dropped);
    counts_.waiting -= static_cast<uint64_t>(dropped);
  }
}

PushCounts Pusher::Finish(double drain_s) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    finishing_ = true;
    drain_deadline_ns_ =
        ClockNs(CLOCK_MONOTONIC) + static_cast<int64_t>(drain_s * 1e9);
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
  return counts();
}

}  // namespace pystrobe
