#include "frame_walker_fuzz.h"

#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "code_cache.h"
#include "fake_python.h"
#include "frame_walker.h"
#include "remote_struct.h"

namespace pystrobe::testing {
namespace {

struct ExpectedFrame {
  std::string name, qualname, filename;
  int line;
};

struct BuiltImage {
  uint64_t tstate = 0;
  std::vector<ExpectedFrame> expected;
};

constexpr const char* kNames[] = {"f",
                                  "<module>",
                                  "caf\xc3\xa9",
                                  "\xe9\x96\xa2\xe6\x95\xb0",
                                  "\xf0\xa0\x80\x80x",
                                  "run_forever",
                                  "__init__",
                                  "<lambda>"};

std::string RandomName(std::mt19937_64& rng) {
  std::string name = kNames[rng() % (sizeof(kNames) / sizeof(kNames[0]))];
  if (rng() % 2 == 0) absl::StrAppend(&name, "_", rng() % 1000);
  return name;
}

int Uniform(std::mt19937_64& rng, int lo, int hi) {  // [lo, hi]
  return lo + static_cast<int>(rng() % static_cast<uint64_t>(hi - lo + 1));
}

// A valid process: a random stack over random code objects.
BuiltImage BuildImage(FakePython& py, std::mt19937_64& rng) {
  const PythonVersion& v = py.version();
  struct Code {
    uint64_t address;
    FakeCode spec;
    std::vector<LineEntry> entries;
    int table_size;  // bytes (lnotab, 3.10) or code units (3.11+)
  };
  std::vector<Code> codes(static_cast<size_t>(Uniform(rng, 1, 6)));
  for (Code& c : codes) {
    c.spec.name = RandomName(rng);
    c.spec.qualname = rng() % 2 ? RandomName(rng) + "." + c.spec.name : "";
    c.spec.filename = "/srv/" + RandomName(rng) + ".py";
    c.spec.first_line = Uniform(rng, 1, 5000);
    const int n = Uniform(rng, 0, 6);
    c.table_size = 0;
    for (int i = 0; i < n; ++i) {
      LineEntry e{0, 0};
      if (!v.AtLeast(3, 10)) {
        e.length = 2 * Uniform(rng, 0, 10);
        e.delta = v.major == 2 ? Uniform(rng, 0, 20) : Uniform(rng, -5, 20);
      } else if (!v.AtLeast(3, 11)) {
        e.length = 2 * Uniform(rng, 0, 12);
        e.delta = Uniform(rng, -5, 20);
        e.no_line = rng() % 7 == 0;
      } else {
        e.length = Uniform(rng, 1, 8);
        e.delta = Uniform(rng, -60, 300);
        e.no_line = rng() % 7 == 0;
      }
      c.table_size += e.length;
      c.entries.push_back(e);
    }
    c.spec.line_table = EncodeLineTable(v, c.entries);
    c.spec.code_units = v.AtLeast(3, 11) ? c.table_size : 0;
    c.spec.first_traceable =
        c.spec.code_units > 0 ? Uniform(rng, 0, c.spec.code_units - 1) : 0;
    c.address = py.Code(c.spec);
  }
  BuiltImage image;
  std::vector<FakeFrame> frames;
  const int depth = Uniform(rng, 0, 12);
  for (int i = 0; i < depth; ++i) {
    if (v.AtLeast(3, 12) && rng() % 5 == 0) {
      frames.push_back({0xdead0000, 0, /*owner=*/3});
      continue;
    }
    if (v.AtLeast(3, 13) && rng() % 8 == 0) {
      frames.push_back({py.NoneObject(), 0, 0});
      continue;
    }
    const Code& c = codes[rng() % codes.size()];
    int lasti;
    if (!v.AtLeast(3, 10)) {
      lasti = Uniform(rng, 0, c.table_size + 4);
    } else if (!v.AtLeast(3, 11)) {
      lasti = Uniform(rng, 0, c.table_size / 2 + 2);
    } else {
      lasti = Uniform(rng, c.spec.first_traceable, c.spec.code_units);
    }
    uint8_t owner = v.AtLeast(3, 11) ? static_cast<uint8_t>(rng() % 3)
                                     : 0;  // thread, generator, object
    // 3.11: a thread's outermost frame is never a generator's (the walker
    // takes one there for a chain cut while read).
    if (!v.AtLeast(3, 12) && i == depth - 1 && owner == 1) owner = 0;
    frames.push_back({c.address, lasti, owner});
    const bool qualname = v.AtLeast(3, 11);
    image.expected.push_back(
        {c.spec.name,
         qualname ? (c.spec.qualname.empty() ? c.spec.name : c.spec.qualname)
                  : "",
         c.spec.filename,
         ExpectedLine(v, c.entries, c.spec.first_line,
                      LastiToByteOffset(v, lasti))});
  }
  image.tstate = py.Stack(frames).tstate;
  return image;
}

int Mutate(FakePython& py, const uint8_t* data, size_t size) {
  std::string& arena = py.arena();
  int applied = 0;
  for (size_t i = 0; i + 6 <= size && !arena.empty(); i += 6) {
    const uint8_t op = data[i];
    uint32_t offset;
    std::memcpy(&offset, data + i + 1, 4);
    const uint8_t value = data[i + 5];
    size_t at = offset % arena.size();
    switch (op % 4) {
      case 0:
        arena[at] = static_cast<char>(value);
        break;
      case 1:
        arena[at] = static_cast<char>(arena[at] ^ (1 << (value & 7)));
        break;
      case 2: {  // a pointer to somewhere else in the arena
        at &= ~size_t{7};
        if (at + 8 > arena.size()) break;
        const uint64_t target =
            FakePython::kBase +
            (static_cast<uint64_t>(value) * 16 + (offset >> 16)) % arena.size();
        std::memcpy(&arena[at], &target, 8);
        break;
      }
      default: {  // a small integer (lengths, lasti, owners, first lines)
        at &= ~size_t{3};
        if (at + 4 > arena.size()) break;
        const int32_t small = static_cast<int32_t>(value) - 128;
        std::memcpy(&arena[at], &small, 4);
        break;
      }
    }
    ++applied;
  }
  return applied;
}

struct WalkResult {
  absl::Status status;
  std::vector<Frame> frames;
};

WalkResult WalkOnce(RemoteMemory& memory, const Layout& layout,
                    FrameWalker& walker, uint64_t tstate) {
  WalkResult result;
  RemoteStruct ts;
  result.status = ts.Load(memory, layout, tstate, Field::kSizeofThreadState);
  if (result.status.ok()) {
    result.status = walker.Walk(memory, ts, &result.frames);
  }
  return result;
}

bool SameFrames(const std::vector<Frame>& a, const std::vector<Frame>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].line != b[i].line || a[i].code->name != b[i].code->name ||
        a[i].code->filename != b[i].code->filename) {
      return false;
    }
  }
  return true;
}

}  // namespace

FuzzOutcome WalkFuzzInput(const uint8_t* data, size_t size) {
  FuzzOutcome out;
  if (size == 0) return out;
  const std::vector<PythonVersion> versions = FakeVersions();
  const PythonVersion version = versions[(data[0] & 7) % versions.size()];
  out.built = (data[0] & 8) != 0;
  FakePython py(version);
  uint64_t tstate = FakePython::kBase;
  BuiltImage image;
  if (out.built) {
    uint64_t seed = 0;
    std::memcpy(&seed, data + 1, size >= 9 ? 8 : size - 1);
    std::mt19937_64 rng(seed);
    image = BuildImage(py, rng);
    tstate = image.tstate;
    if (size > 9) out.mutations = Mutate(py, data + 9, size - 9);
  } else {
    py.arena().assign(reinterpret_cast<const char*>(data + 1), size - 1);
  }
  std::unique_ptr<FakeMemory> memory = py.Memory();
  const Layout& layout = py.layout();
  CodeCache cache(&layout, &version, kFuzzCacheEntries);
  FrameWalker walker(
      &layout, &version,
      TypeAddresses{FakePython::kCodeType, FakePython::kFrameType}, &cache);

  WalkResult first = WalkOnce(*memory, layout, walker, tstate);
  const uint64_t decodes = cache.decodes();
  out.ok = first.status.ok();
  out.frames = first.frames.size();
  out.cache_size = cache.size();
  auto violate = [&out](const std::string& what) {
    if (out.violation.empty()) out.violation = what;
  };
  if (first.frames.size() > static_cast<size_t>(FrameWalker::kMaxDepth)) {
    violate(absl::StrCat("walk returned ", first.frames.size(), " frames"));
  }
  if (cache.size() > kFuzzCacheEntries) {
    violate(absl::StrCat("code cache holds ", cache.size(), " entries"));
  }

  WalkResult second = WalkOnce(*memory, layout, walker, tstate);
  if (second.status.code() != first.status.code() ||
      (first.status.ok() && !SameFrames(first.frames, second.frames))) {
    violate(absl::StrCat("second walk differs: ", first.status.ToString(),
                         " vs ", second.status.ToString()));
  }
  if (decodes <= kFuzzCacheEntries && cache.decodes() != decodes) {
    violate(absl::StrCat("second walk decoded ", cache.decodes() - decodes,
                         " code objects again"));
  }

  if (out.built && out.mutations == 0) {
    if (!first.status.ok()) {
      violate("valid image failed: " + first.status.ToString());
    } else if (first.frames.size() != image.expected.size()) {
      violate(absl::StrCat("valid image: ", first.frames.size(),
                           " frames, expected ", image.expected.size()));
    } else {
      for (size_t i = 0; i < image.expected.size(); ++i) {
        const Frame& f = first.frames[i];
        const ExpectedFrame& e = image.expected[i];
        if (f.code->name != e.name || f.code->qualname != e.qualname ||
            f.code->filename != e.filename || f.line != e.line) {
          violate(absl::StrCat("valid image frame ", i, ": got ", f.code->name,
                               "/", f.code->qualname, " ", f.code->filename,
                               ":", f.line, ", expected ", e.name, "/",
                               e.qualname, " ", e.filename, ":", e.line, " (",
                               version.ToString(), ")"));
          break;
        }
      }
    }
  }
  return out;
}

}  // namespace pystrobe::testing
