// libFuzzer target for what a push backend sends back (src/http,
// HttpResponseParser): any bytes, fed in pieces whose sizes the input's
// first byte chooses, then the connection closed. The parser must end in a
// state, never crash, and keep its bounds.
//   build-fuzz/tests/fuzz/http_response_fuzzer \
//       tests/fuzz/corpus/http_response -max_total_time=60
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "pystrobe/http/http.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t piece = 1 + data[0] % 64;
  absl::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  pystrobe::HttpResponseParser parser;
  parser.set_no_body(data[0] & 0x80);
  while (!bytes.empty()) {
    const size_t n = bytes.size() < piece ? bytes.size() : piece;
    parser.Feed(bytes.substr(0, n));
    bytes.remove_prefix(n);
  }
  parser.Close();
  if (parser.state() == pystrobe::HttpResponseParser::State::kNeedMore) {
    std::abort();
  }
  if (parser.response().body.size() > pystrobe::HttpResponseParser::kMaxBody) {
    std::abort();
  }
  return 0;
}
