// FakeDockerEngine: containers, images, events and output in memory, and
// the faults tests inject.
#include "tests/support/fake_docker_engine.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/base/status_macros.h"
#include "nlohmann/json.hpp"

namespace dkd::core::testing {
namespace {

constexpr absl::Duration kPoll = absl::Milliseconds(2);

// "x" -> "x:latest"; a reference with a tag or digest stays as it is.
std::string WithTag(const std::string& ref) {
  if (absl::StrContains(ref, "@")) return ref;
  const size_t slash = ref.rfind('/');
  const size_t colon = ref.rfind(':');
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) return ref;
  return absl::StrCat(ref, ":latest");
}

bool HasPrefix(const std::string& id, const std::string& ref) {
  if (ref.empty()) return false;
  std::string bare = id;
  if (absl::StartsWith(bare, "sha256:")) bare = bare.substr(7);
  std::string want = ref;
  if (absl::StartsWith(want, "sha256:")) want = want.substr(7);
  return !want.empty() && absl::StartsWith(bare, want);
}

bool MatchesLabels(const std::map<std::string, std::string>& labels,
                   const std::vector<std::string>& filters) {
  for (const std::string& f : filters) {
    const size_t eq = f.find('=');
    auto it = labels.find(f.substr(0, eq));
    if (it == labels.end()) return false;
    if (eq != std::string::npos && it->second != f.substr(eq + 1)) return false;
  }
  return true;
}

const std::vector<std::string>& Filter(const EngineFilters& f, const std::string& key) {
  static const std::vector<std::string> kNone;
  auto it = f.find(key);
  return it == f.end() ? kNone : it->second;
}

JsonMessage Message(nlohmann::json j) {
  JsonMessage m;
  (void)ParseJsonMessage(j.dump(), m);
  return m;
}

}  // namespace

struct FakeDockerEngine::StreamState {
  bool async = false;
  std::atomic<bool> cancelled{false};
  std::atomic<uint64_t> resumes{0};
};

FakeDockerEngine::FakeDockerEngine() {
  absl::MutexLock lock(&mu_);
  for (const char* name : {"bridge", "host", "none"}) {
    const std::string id = NextId();
    networks_[id] = NetworkDetails{id, name, std::string(name) == "none" ? "null" : name};
  }
}

FakeDockerEngine::~FakeDockerEngine() {
  {
    absl::MutexLock lock(&mu_);
    shutting_down_ = true;
  }
  std::vector<std::thread> threads;
  {
    absl::MutexLock lock(&threads_mu_);
    threads.swap(threads_);
  }
  for (std::thread& t : threads) t.join();
}

// --- State ---

std::string FakeDockerEngine::NextId() {
  return absl::StrFormat("%064x", next_id_++ * 0x9e3779b97f4a7c15ULL);
}

std::string FakeDockerEngine::NextTime() {
  return absl::FormatTime(absl::RFC3339_sec, absl::FromUnixSeconds(clock_++), absl::UTCTimeZone());
}

std::string FakeDockerEngine::AddContainer(const ContainerSetup& s) {
  absl::MutexLock lock(&mu_);
  Container c;
  ContainerDetails& d = c.details;
  d.id = NextId();
  d.name = s.name.empty() ? absl::StrCat("fake_", next_id_) : s.name;
  d.image = s.image;
  d.image_id = s.image_id;
  if (d.image_id.empty()) d.image_id = ResolveImageId(s.image);
  if (d.image_id.empty()) d.image_id = absl::StrCat("sha256:", NextId());
  d.created = s.created.empty() ? NextTime() : s.created;
  d.has_config = true;
  d.labels = s.labels;
  d.tty = s.tty;
  d.restart_policy = "no";
  d.mounts = s.mounts;
  d.networks = {"bridge"};
  ContainerState st;
  st.running = s.running;
  st.status = s.running ? "running" : "exited";
  st.exit_code = s.exit_code;
  d.state = st;
  c.output = s.output;
  const std::string id = d.id;
  containers_[id] = std::move(c);
  ++version_;
  return id;
}

std::string FakeDockerEngine::InstallImage(ImageDetails details,
                                           std::vector<ImageHistoryEntry> history) {
  if (details.id.empty()) details.id = absl::StrCat("sha256:", NextId());
  if (details.created.empty()) details.created = NextTime();
  details.has_config = true;
  // A tag names one image: taking it moves it.
  for (const std::string& tag : details.repo_tags) {
    for (auto& [id, image] : images_) {
      auto& tags = image.details.repo_tags;
      tags.erase(std::remove(tags.begin(), tags.end(), tag), tags.end());
    }
  }
  const std::string id = details.id;
  images_[id] = Image{std::move(details), std::move(history)};
  ++version_;
  return id;
}

std::string FakeDockerEngine::AddImage(ImageDetails details,
                                       std::vector<ImageHistoryEntry> history) {
  absl::MutexLock lock(&mu_);
  return InstallImage(std::move(details), std::move(history));
}

void FakeDockerEngine::AddRegistryImage(const std::string& ref, ImageDetails details,
                                        std::vector<ImageHistoryEntry> history) {
  absl::MutexLock lock(&mu_);
  registry_[WithTag(ref)] = Image{std::move(details), std::move(history)};
}

void FakeDockerEngine::AddNetwork(const NetworkDetails& network) {
  absl::MutexLock lock(&mu_);
  NetworkDetails n = network;
  if (n.id.empty()) n.id = NextId();
  if (n.driver.empty()) n.driver = "bridge";
  networks_[n.id] = n;
}

void FakeDockerEngine::AddVolume(const VolumeDetails& volume) {
  absl::MutexLock lock(&mu_);
  volumes_[volume.name] = volume;
}

void FakeDockerEngine::AppendOutput(const std::string& id, const LogFrame& frame) {
  absl::MutexLock lock(&mu_);
  if (Container* c = ResolveContainer(id)) c->output.push_back(frame);
  ++version_;
}

void FakeDockerEngine::EmitEvent(EngineEvent event) {
  absl::MutexLock lock(&mu_);
  if (event.time_nano == 0) event.time_nano = clock_++ * 1000000000LL;
  events_.push_back(std::move(event));
  ++version_;
}

void FakeDockerEngine::Emit(const std::string& type, const std::string& action,
                            const std::string& id, std::map<std::string, std::string> attributes) {
  EngineEvent e;
  e.type = type;
  e.action = action;
  e.actor_id = id;
  e.scope = "local";
  e.attributes = std::move(attributes);
  e.time_nano = clock_++ * 1000000000LL;
  events_.push_back(std::move(e));
  ++version_;
}

void FakeDockerEngine::SetExitOnStart(const std::string& image, int exit_code,
                                      std::vector<LogFrame> output) {
  absl::MutexLock lock(&mu_);
  exit_on_start_[WithTag(image)] = {exit_code, std::move(output)};
}

void FakeDockerEngine::SetBuildOutput(std::vector<JsonMessage> messages) {
  absl::MutexLock lock(&mu_);
  build_output_ = std::move(messages);
}

FakeDockerEngine::Container* FakeDockerEngine::ResolveContainer(const std::string& ref) {
  return const_cast<Container*>(static_cast<const FakeDockerEngine*>(this)->ResolveContainer(ref));
}

const FakeDockerEngine::Container* FakeDockerEngine::ResolveContainer(
    const std::string& ref) const {
  std::string name = ref;
  if (absl::StartsWith(name, "/")) name = name.substr(1);
  if (auto it = containers_.find(name); it != containers_.end()) return &it->second;
  for (const auto& [id, c] : containers_) {
    if (c.details.name == name) return &c;
  }
  const Container* found = nullptr;
  for (const auto& [id, c] : containers_) {
    if (HasPrefix(id, name)) {
      if (found != nullptr) return nullptr;  // Ambiguous.
      found = &c;
    }
  }
  return found;
}

std::string FakeDockerEngine::ResolveImageId(const std::string& ref) const {
  if (images_.count(ref) > 0) return ref;
  const std::string tagged = WithTag(ref);
  for (const auto& [id, image] : images_) {
    for (const std::string& t : image.details.repo_tags) {
      if (t == tagged) return id;
    }
    for (const std::string& d : image.details.repo_digests) {
      if (d == ref) return id;
    }
  }
  for (const auto& [id, image] : images_) {
    if (HasPrefix(id, ref)) return id;
  }
  return "";
}

std::optional<ContainerDetails> FakeDockerEngine::FindContainer(const std::string& ref) const {
  absl::MutexLock lock(&mu_);
  const Container* c = ResolveContainer(ref);
  if (c == nullptr) return std::nullopt;
  return c->details;
}

std::optional<ImageDetails> FakeDockerEngine::FindImage(const std::string& ref) const {
  absl::MutexLock lock(&mu_);
  const std::string id = ResolveImageId(ref);
  if (id.empty()) return std::nullopt;
  return images_.at(id).details;
}

std::optional<VolumeDetails> FakeDockerEngine::FindVolume(const std::string& name) const {
  absl::MutexLock lock(&mu_);
  auto it = volumes_.find(name);
  if (it == volumes_.end()) return std::nullopt;
  return it->second;
}

size_t FakeDockerEngine::container_count() const {
  absl::MutexLock lock(&mu_);
  return containers_.size();
}

std::vector<std::string> FakeDockerEngine::create_bodies() const {
  absl::MutexLock lock(&mu_);
  return create_bodies_;
}

// --- Faults and observations ---

void FakeDockerEngine::FailNextCalls(int calls) {
  absl::MutexLock lock(&mu_);
  fail_next_ = calls;
}

void FakeDockerEngine::SetDown(bool down) {
  absl::MutexLock lock(&mu_);
  down_ = down;
}

void FakeDockerEngine::FailOperation(const std::string& op, int http_status,
                                     const std::string& message, int times) {
  absl::MutexLock lock(&mu_);
  faults_[op] = Fault{http_status, message, times};
}

void FakeDockerEngine::BreakStreamAfter(const std::string& op, int items) {
  absl::MutexLock lock(&mu_);
  break_after_[op] = items;
}

void FakeDockerEngine::SetItemDelay(absl::Duration delay) {
  absl::MutexLock lock(&mu_);
  item_delay_ = delay;
}

void FakeDockerEngine::ClearFaults() {
  absl::MutexLock lock(&mu_);
  fail_next_ = 0;
  down_ = false;
  faults_.clear();
  break_after_.clear();
  item_delay_ = absl::ZeroDuration();
}

std::vector<std::string> FakeDockerEngine::calls() const {
  absl::MutexLock lock(&mu_);
  return calls_;
}

int FakeDockerEngine::CallCount(const std::string& op) const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(std::count(calls_.begin(), calls_.end(), op));
}

void FakeDockerEngine::ClearCalls() {
  absl::MutexLock lock(&mu_);
  calls_.clear();
}

int FakeDockerEngine::open_streams() const {
  absl::MutexLock lock(&mu_);
  return open_streams_;
}

absl::Status FakeDockerEngine::EngineError(int http_status, const std::string& message) {
  return StatusFromEngineHttp(http_status, nlohmann::json{{"message", message}}.dump());
}

absl::Status FakeDockerEngine::Enter(const std::string& op) {
  absl::MutexLock lock(&mu_);
  return EnterLocked(op);
}

absl::Status FakeDockerEngine::EnterLocked(const std::string& op) {
  calls_.push_back(op);
  if (down_ || fail_next_ > 0) {
    if (fail_next_ > 0) --fail_next_;
    return absl::UnavailableError(
        "the Docker Engine at unix:///fake/docker.sock is not reachable (connection refused)");
  }
  if (auto it = faults_.find(op); it != faults_.end()) {
    Fault f = it->second;
    if (f.times > 0 && --it->second.times == 0) faults_.erase(it);
    return EngineError(f.http_status, f.message);
  }
  return absl::OkStatus();
}

// --- Streams ---

std::shared_ptr<FakeDockerEngine::StreamState> FakeDockerEngine::NewStream(CancelToken* cancel) {
  auto state = std::make_shared<StreamState>();
  if (cancel != nullptr) cancel->SetHook([state] { state->cancelled = true; });
  return state;
}

void FakeDockerEngine::EndStream(StreamState&, CancelToken* cancel) {
  if (cancel != nullptr) cancel->ClearHook();
}

absl::Status FakeDockerEngine::RunStream(
    const std::string& op, StreamState& state, bool follow,
    const std::function<std::optional<Item>(size_t index)>& next) {
  mu_.Lock();
  ++open_streams_;
  absl::Status end;
  size_t index = 0;
  int delivered = 0;
  while (true) {
    if (state.cancelled) {
      end = absl::CancelledError("request cancelled");
      break;
    }
    if (shutting_down_) {
      end = absl::UnavailableError("the Docker Engine went away");
      break;
    }
    if (auto it = break_after_.find(op); it != break_after_.end() && delivered >= it->second) {
      end = absl::UnavailableError("the Docker Engine closed the connection mid-response");
      break;
    }
    const uint64_t seen = version_;
    std::optional<Item> item = next(index);
    if (!item.has_value()) {
      if (!follow) break;
      while (version_ == seen && !state.cancelled && !shutting_down_) {
        mu_.Unlock();
        absl::SleepFor(kPoll);
        mu_.Lock();
      }
      continue;
    }
    ++index;
    const absl::Duration delay = item_delay_;
    mu_.Unlock();
    if (delay > absl::ZeroDuration()) absl::SleepFor(delay);
    const uint64_t resumes = state.resumes;
    const bool more = (*item)();
    mu_.Lock();
    ++delivered;
    if (more) continue;
    if (!state.async) {
      end = absl::CancelledError("stream consumer stopped");
      break;
    }
    // Paused until Resume() (or the end).
    while (state.resumes == resumes && !state.cancelled && !shutting_down_) {
      mu_.Unlock();
      absl::SleepFor(kPoll);
      mu_.Lock();
    }
  }
  --open_streams_;
  mu_.Unlock();
  return end;
}

void FakeDockerEngine::Spawn(std::function<void()> body) {
  absl::MutexLock lock(&threads_mu_);
  threads_.emplace_back(std::move(body));
}

// --- The engine itself ---

absl::Status FakeDockerEngine::Ping() { return Enter("Ping"); }

absl::StatusOr<EngineVersion> FakeDockerEngine::Version() {
  if (absl::Status s = Enter("Version"); !s.ok()) return s;
  return EngineVersion{"24.0.0-fake", "1.43", "1.12", "linux", "amd64", "6.1.0", "fake"};
}

std::string FakeDockerEngine::ApiVersion() const { return "1.41"; }

absl::StatusOr<EnginePing> FakeDockerEngine::LastPing() {
  if (absl::Status s = Enter("LastPing"); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  return ping_;
}

void FakeDockerEngine::SetPing(EnginePing ping) {
  absl::MutexLock lock(&mu_);
  ping_ = std::move(ping);
}

absl::StatusOr<EngineInfo> FakeDockerEngine::Info() {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = EnterLocked("Info"); !s.ok()) return s;
  EngineInfo i;
  i.id = "FAKE:ENGINE";
  i.name = "fake";
  i.server_version = "24.0.0-fake";
  i.containers = static_cast<int64_t>(containers_.size());
  for (const auto& [id, c] : containers_) {
    if (c.details.state->running) ++i.containers_running;
  }
  i.containers_stopped = i.containers - i.containers_running;
  i.images = static_cast<int64_t>(images_.size());
  i.storage_driver = "overlay2";
  i.operating_system = "Fake OS";
  i.architecture = "x86_64";
  i.ncpu = 2;
  i.raw_json = nlohmann::json{{"ID", i.id}, {"Name", i.name}}.dump();
  return i;
}

// --- Containers ---

absl::StatusOr<std::vector<ContainerSummary>> FakeDockerEngine::ListContainers(
    const ContainerListOptions& o) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = EnterLocked("ListContainers"); !s.ok()) return s;
  std::vector<ContainerSummary> out;
  for (const auto& [id, c] : containers_) {
    const ContainerDetails& d = c.details;
    if (!o.all && !d.state->running) continue;
    if (!MatchesLabels(d.labels, Filter(o.filters, "label"))) continue;
    const auto& names = Filter(o.filters, "name");
    if (!names.empty() && std::none_of(names.begin(), names.end(), [&](const std::string& n) {
          return absl::StrContains(d.name, n);
        })) {
      continue;
    }
    const auto& states = Filter(o.filters, "status");
    if (!states.empty() && std::find(states.begin(), states.end(), d.state->status) == states.end())
      continue;
    ContainerSummary s;
    s.id = d.id;
    s.name = d.name;
    s.image = d.image;
    s.image_id = d.image_id;
    s.command = absl::StrJoin(d.cmd, " ");
    s.state = d.state->status;
    s.status = d.state->running ? "Up 1 second"
                                : absl::StrCat("Exited (", d.state->exit_code, ") 1 second ago");
    s.labels = d.labels;
    s.networks = d.networks;
    s.ports = d.ports;
    if (o.mounts) s.mounts = d.mounts;
    out.push_back(std::move(s));
  }
  if (o.limit > 0 && out.size() > static_cast<size_t>(o.limit)) out.resize(o.limit);
  return out;
}

absl::StatusOr<ContainerDetails> FakeDockerEngine::InspectContainer(const std::string& id) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = EnterLocked("InspectContainer"); !s.ok()) return s;
  const Container* c = ResolveContainer(id);
  if (c == nullptr) return EngineError(404, absl::StrCat("No such container: ", id));
  ContainerDetails d = c->details;
  d.raw_json = nlohmann::json{{"Id", d.id}, {"Name", "/" + d.name}}.dump();
  return d;
}

absl::StatusOr<CreatedContainer> FakeDockerEngine::CreateContainer(const std::string& name,
                                                                   const std::string& config) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = EnterLocked("CreateContainer"); !s.ok()) return s;
  create_bodies_.push_back(config);
  auto j = nlohmann::json::parse(config, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return EngineError(400, "invalid JSON");
  for (const auto& [id, c] : containers_) {
    if (c.details.name == name) {
      return EngineError(409, absl::StrCat("Conflict. The container name \"/", name,
                                           "\" is already in use by container \"", id,
                                           "\". You have to remove (or rename) that container "
                                           "to be able to reuse that name."));
    }
  }
  const std::string image = j.value("Image", "");
  const std::string image_id = ResolveImageId(image);
  if (image_id.empty()) return EngineError(404, absl::StrCat("No such image: ", image));
  Container c;
  ContainerDetails& d = c.details;
  d.id = NextId();
  d.name = name;
  d.image = image;
  d.image_id = image_id;
  d.created = NextTime();
  d.has_config = true;
  if (auto l = j.find("Labels"); l != j.end() && l->is_object()) {
    for (auto it = l->begin(); it != l->end(); ++it) {
      if (it->is_string()) d.labels[it.key()] = it->get<std::string>();
    }
  }
  d.tty = j.value("Tty", false);
  if (auto cmd = j.find("Cmd"); cmd != j.end() && cmd->is_array()) {
    for (const auto& s : *cmd) {
      if (s.is_string()) d.cmd.push_back(s.get<std::string>());
    }
  }
  d.restart_policy = "no";
  d.networks = {"bridge"};
  ContainerState st;
  st.status = "created";
  d.state = st;
  const std::string id = d.id;
  containers_[id] = std::move(c);
  Emit("container", "create", id, {{"name", name}, {"image", image}});
  return CreatedContainer{id, {}};
}

absl::Status FakeDockerEngine::StartContainer(const std::string& id) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(EnterLocked("StartContainer"));
  Container* c = ResolveContainer(id);
  if (c == nullptr) return EngineError(404, absl::StrCat("No such container: ", id));
  ContainerState& st = *c->details.state;
  if (st.running) return absl::OkStatus();
  st.running = true;
  st.status = "running";
  Emit("container", "start", c->details.id, {{"name", c->details.name}});
  if (auto it = exit_on_start_.find(WithTag(c->details.image)); it != exit_on_start_.end()) {
    c->output.insert(c->output.end(), it->second.second.begin(), it->second.second.end());
    st.running = false;
    st.status = "exited";
    st.exit_code = it->second.first;
    Emit("container", "die", c->details.id, {{"exitCode", std::to_string(st.exit_code)}});
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> FakeDockerEngine::StopContainer(const std::string& id, std::optional<int>) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = EnterLocked("StopContainer"); !s.ok()) return s;
  Container* c = ResolveContainer(id);
  if (c == nullptr) return EngineError(404, absl::StrCat("No such container: ", id));
  ContainerState& st = *c->details.state;
  if (!st.running) return true;
  st.running = false;
  st.status = "exited";
  st.exit_code = 143;
  Emit("container", "die", c->details.id, {{"exitCode", "143"}});
  Emit("container", "stop", c->details.id, {});
  return false;
}

absl::Status FakeDockerEngine::RemoveContainer(const std::string& id, bool force, bool) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(EnterLocked("RemoveContainer"));
  Container* c = ResolveContainer(id);
  if (c == nullptr) return EngineError(404, absl::StrCat("No such container: ", id));
  if (c->details.state->running && !force) {
    return EngineError(409, absl::StrCat("You cannot remove a running container ", c->details.id,
                                         ". Stop the container before attempting removal or "
                                         "force remove"));
  }
  const std::string full = c->details.id;
  containers_.erase(full);
  Emit("container", "destroy", full, {});
  return absl::OkStatus();
}

absl::StatusOr<WaitResult> FakeDockerEngine::WaitContainer(const std::string& id,
                                                           const std::string& condition,
                                                           CancelToken* cancel) {
  std::string full;
  {
    absl::MutexLock lock(&mu_);
    if (absl::Status s = EnterLocked("WaitContainer"); !s.ok()) return s;
    const Container* c = ResolveContainer(id);
    if (c == nullptr) return EngineError(404, absl::StrCat("No such container: ", id));
    full = c->details.id;
  }
  auto state = NewStream(cancel);
  WaitResult result;
  bool first = true;
  absl::Status s =
      RunStream("WaitContainer", *state, /*follow=*/true, [&](size_t) -> std::optional<Item> {
        auto it = containers_.find(full);
        const bool gone = it == containers_.end();
        const bool stopped = gone || !it->second.details.state->running;
        const bool next_exit = condition == "next-exit" && first;
        first = false;
        if (next_exit || !stopped || (condition == "removed" && !gone)) {
          return std::nullopt;
        }
        if (!gone) result.exit_code = it->second.details.state->exit_code;
        return Item([] { return false; });
      });
  EndStream(*state, cancel);
  if (absl::IsCancelled(s) && !state->cancelled) return result;  // Delivered.
  if (!s.ok()) return s;
  return result;
}

absl::Status FakeDockerEngine::ContainerLogs(const LogsOptions& o, bool tty,
                                             const FrameCallback& on_frame, CancelToken* cancel) {
  auto state = NewStream(cancel);
  absl::Status s = Enter("ContainerLogs");
  if (s.ok()) {
    std::string full;
    {
      absl::MutexLock lock(&mu_);
      const Container* c = ResolveContainer(o.id);
      if (c == nullptr) s = EngineError(404, absl::StrCat("No such container: ", o.id));
      if (c != nullptr) full = c->details.id;
    }
    if (s.ok()) {
      s = RunStream("ContainerLogs", *state, o.follow, [&](size_t index) -> std::optional<Item> {
        auto it = containers_.find(full);
        if (it == containers_.end()) return std::nullopt;
        const auto& out = it->second.output;
        size_t skip = 0;
        if (o.tail.has_value() && out.size() > static_cast<size_t>(*o.tail)) {
          skip = out.size() - static_cast<size_t>(*o.tail);
        }
        if (skip + index >= out.size()) {
          return std::nullopt;
        }
        LogFrame f = out[skip + index];
        if (tty) f.stream = LogFrame::Stream::kConsole;
        if (o.timestamps) f.data = absl::StrCat("2023-11-14T22:13:20.000000000Z ", f.data);
        return Item([f, &on_frame] { return on_frame(f); });
      });
    }
  }
  EndStream(*state, cancel);
  return s;
}

// --- Images ---

absl::StatusOr<std::vector<ImageSummary>> FakeDockerEngine::ListImages(const ImageListOptions& o) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = EnterLocked("ListImages"); !s.ok()) return s;
  std::vector<ImageSummary> out;
  for (const auto& [id, image] : images_) {
    const ImageDetails& d = image.details;
    if (!MatchesLabels(d.labels, Filter(o.filters, "label"))) continue;
    const auto& refs = Filter(o.filters, "reference");
    if (!refs.empty() && std::none_of(refs.begin(), refs.end(), [&](const std::string& r) {
          return std::find(d.repo_tags.begin(), d.repo_tags.end(), WithTag(r)) != d.repo_tags.end();
        })) {
      continue;
    }
    if (!Filter(o.filters, "dangling").empty() && !d.repo_tags.empty()) continue;
    ImageSummary s;
    s.id = d.id;
    s.parent_id = d.parent;
    s.repo_tags = d.repo_tags;
    s.repo_digests = d.repo_digests;
    s.size = d.size;
    s.created = 1700000000;
    s.labels = d.labels;
    out.push_back(std::move(s));
  }
  return out;
}

absl::StatusOr<ImageDetails> FakeDockerEngine::InspectImage(const std::string& image) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = EnterLocked("InspectImage"); !s.ok()) return s;
  const std::string id = ResolveImageId(image);
  if (id.empty()) return EngineError(404, absl::StrCat("No such image: ", image));
  ImageDetails d = images_.at(id).details;
  d.raw_json = nlohmann::json{{"Id", d.id}, {"RepoTags", d.repo_tags}}.dump();
  return d;
}

absl::StatusOr<std::vector<ImageHistoryEntry>> FakeDockerEngine::ImageHistory(
    const std::string& image) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = EnterLocked("ImageHistory"); !s.ok()) return s;
  const std::string id = ResolveImageId(image);
  if (id.empty()) return EngineError(404, absl::StrCat("No such image: ", image));
  return images_.at(id).history;
}

absl::StatusOr<RemoveImageResult> FakeDockerEngine::RemoveImage(const std::string& image,
                                                                bool force, bool) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = EnterLocked("RemoveImage"); !s.ok()) return s;
  const std::string id = ResolveImageId(image);
  if (id.empty()) return EngineError(404, absl::StrCat("No such image: ", image));
  ImageDetails& d = images_.at(id).details;
  RemoveImageResult out;
  const std::string tagged = WithTag(image);
  const bool by_tag =
      std::find(d.repo_tags.begin(), d.repo_tags.end(), tagged) != d.repo_tags.end();
  if (by_tag && d.repo_tags.size() > 1) {
    d.repo_tags.erase(std::remove(d.repo_tags.begin(), d.repo_tags.end(), tagged),
                      d.repo_tags.end());
    out.untagged.push_back(tagged);
    return out;
  }
  if (!force) {
    for (const auto& [cid, c] : containers_) {
      if (c.details.image_id == id) {
        return EngineError(409,
                           absl::StrCat("conflict: unable to remove repository reference \"", image,
                                        "\" (must force) - container ", cid.substr(0, 12),
                                        " is using its referenced image ", id.substr(7, 12)));
      }
    }
  }
  out.untagged = d.repo_tags;
  out.deleted.push_back(id);
  images_.erase(id);
  Emit("image", "delete", id, {});
  return out;
}

absl::Status FakeDockerEngine::TagImage(const std::string& image, const std::string& repo,
                                        const std::string& tag) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(EnterLocked("TagImage"));
  const std::string id = ResolveImageId(image);
  if (id.empty()) return EngineError(404, absl::StrCat("No such image: ", image));
  ImageDetails d = images_.at(id).details;
  d.repo_tags.push_back(absl::StrCat(repo, ":", tag.empty() ? "latest" : tag));
  InstallImage(std::move(d), images_.at(id).history);
  return absl::OkStatus();
}

absl::Status FakeDockerEngine::CancelBuild(const std::string& build_id) {
  RETURN_IF_ERROR(Enter("CancelBuild"));
  absl::MutexLock lock(&mu_);
  cancelled_builds_.push_back(build_id);
  return absl::OkStatus();
}

absl::Status FakeDockerEngine::Build(const BuildOptions& o, const BodyReader& context,
                                     const MessageCallback& on_message, CancelToken* cancel) {
  RETURN_IF_ERROR(Enter("Build"));
  {
    absl::MutexLock lock(&mu_);
    builds_.push_back(o);
  }
  // A build whose context comes through the session has no body; one that
  // gives both is a defect the engine would not notice.
  if (o.context_from_session && context) {
    return absl::InternalError("fake engine: a client-session build was given a body");
  }
  char buf[16384];
  while (context) {
    absl::StatusOr<size_t> n = context(buf, sizeof buf);
    if (!n.ok()) return n.status();
    if (*n == 0) break;
  }
  std::vector<JsonMessage> messages;
  {
    absl::MutexLock lock(&mu_);
    messages = build_output_;
    if (messages.empty()) {
      ImageDetails d;
      d.repo_tags = o.tags;
      for (std::string& t : d.repo_tags) t = WithTag(t);
      d.labels = o.labels;
      const std::string id = InstallImage(d, {});
      messages = {
          Message({{"stream", "Step 1/1 : FROM scratch\n"}}), Message({{"aux", {{"ID", id}}}}),
          Message({{"stream", absl::StrCat("Successfully built ", id.substr(7, 12), "\n")}})};
    }
  }
  auto state = NewStream(cancel);
  absl::Status s = RunStream("Build", *state, false, [&](size_t i) -> std::optional<Item> {
    if (i >= messages.size()) return std::nullopt;
    return Item([&, i] { return on_message(messages[i]); });
  });
  EndStream(*state, cancel);
  return s;
}

std::vector<JsonMessage> FakeDockerEngine::PushMessages(const PushOptions& o) {
  const std::string ref = absl::StrCat(o.name, ":", o.tag);
  if (ResolveImageId(ref).empty()) {
    return {Message(
        {{"errorDetail", {{"message", "An image does not exist locally with the tag: " + o.name}}},
         {"error", "An image does not exist locally with the tag: " + o.name}})};
  }
  const std::string digest = absl::StrCat("sha256:", NextId());
  return {Message({{"status", absl::StrCat("The push refers to repository [", o.name, "]")}}),
          Message({{"status", "Pushing"},
                   {"id", "0123456789ab"},
                   {"progressDetail", {{"current", 512}, {"total", 1024}}}}),
          Message({{"status", "Pushed"}, {"id", "0123456789ab"}}),
          Message({{"status", absl::StrCat(o.tag, ": digest: ", digest, " size: 528")}}),
          Message({{"progressDetail", nlohmann::json::object()},
                   {"aux", {{"Tag", o.tag}, {"Digest", digest}, {"Size", 528}}}})};
}

absl::Status FakeDockerEngine::Push(const PushOptions& o, const MessageCallback& on_message,
                                    CancelToken* cancel) {
  auto state = NewStream(cancel);
  absl::Status s = PushStream(o, on_message, *state);
  EndStream(*state, cancel);
  return s;
}

absl::Status FakeDockerEngine::PushStream(const PushOptions& o, const MessageCallback& on_message,
                                          StreamState& state) {
  std::vector<JsonMessage> messages;
  {
    absl::MutexLock lock(&mu_);
    RETURN_IF_ERROR(EnterLocked("Push"));
    messages = PushMessages(o);
  }
  return RunStream("Push", state, false, [&](size_t i) -> std::optional<Item> {
    if (i >= messages.size()) return std::nullopt;
    return Item([&, i] { return on_message(messages[i]); });
  });
}

std::vector<JsonMessage> FakeDockerEngine::PullMessages(const PullOptions& o, bool* found) {
  const bool digest = absl::StartsWith(o.tag, "sha256:");
  const std::string ref = absl::StrCat(o.from_image, digest ? "@" : ":", o.tag);
  *found = registry_.count(ref) > 0;
  if (!*found) {
    const std::string msg =
        absl::StrCat("manifest for ", ref, " not found: manifest unknown: manifest unknown");
    return {Message({{"errorDetail", {{"message", msg}}}, {"error", msg}})};
  }
  const std::string image_digest = absl::StrCat("sha256:", NextId());
  return {Message({{"status", absl::StrCat("Pulling from ", o.from_image)}, {"id", o.tag}}),
          Message({{"status", "Downloading"},
                   {"id", "0123456789ab"},
                   {"progressDetail", {{"current", 100}, {"total", 200}}}}),
          Message({{"status", "Pull complete"}, {"id", "0123456789ab"}}),
          Message({{"status", absl::StrCat("Digest: ", image_digest)}}),
          Message({{"status", absl::StrCat("Status: Downloaded newer image for ", ref)}})};
}

absl::Status FakeDockerEngine::Pull(const PullOptions& o, const MessageCallback& on_message,
                                    CancelToken* cancel) {
  auto state = NewStream(cancel);
  absl::Status s = PullStream(o, on_message, *state);
  EndStream(*state, cancel);
  return s;
}

absl::Status FakeDockerEngine::PullStream(const PullOptions& o, const MessageCallback& on_message,
                                          StreamState& state) {
  std::vector<JsonMessage> messages;
  bool found = false;
  {
    absl::MutexLock lock(&mu_);
    RETURN_IF_ERROR(EnterLocked("Pull"));
    messages = PullMessages(o, &found);
  }
  absl::Status s = RunStream("Pull", state, false, [&](size_t i) -> std::optional<Item> {
    if (i >= messages.size()) return std::nullopt;
    return Item([&, i] { return on_message(messages[i]); });
  });
  if (s.ok() && found) {
    absl::MutexLock lock(&mu_);
    const bool digest = absl::StartsWith(o.tag, "sha256:");
    Image image = registry_.at(absl::StrCat(o.from_image, digest ? "@" : ":", o.tag));
    if (!digest) image.details.repo_tags = {absl::StrCat(o.from_image, ":", o.tag)};
    InstallImage(std::move(image.details), std::move(image.history));
  }
  return s;
}

absl::Status FakeDockerEngine::ExportImage(const std::string& image, const DataCallback& on_data,
                                           CancelToken* cancel) {
  {
    absl::MutexLock lock(&mu_);
    RETURN_IF_ERROR(EnterLocked("ExportImage"));
    if (ResolveImageId(image).empty()) {
      return EngineError(404, absl::StrCat("No such image: ", image));
    }
  }
  // An empty tar: two zero blocks.
  static const std::string kEmptyTar(1024, '\0');
  auto state = NewStream(cancel);
  absl::Status s = RunStream("ExportImage", *state, false, [&](size_t i) -> std::optional<Item> {
    if (i > 0) return std::nullopt;
    return Item([&] { return on_data(kEmptyTar); });
  });
  EndStream(*state, cancel);
  return s;
}

// --- Networks and volumes ---

absl::StatusOr<NetworkDetails> FakeDockerEngine::InspectNetwork(const std::string& name) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = EnterLocked("InspectNetwork"); !s.ok()) return s;
  for (const auto& [id, n] : networks_) {
    if (n.name == name || id == name) return n;
  }
  for (const auto& [id, n] : networks_) {
    if (HasPrefix(id, name)) return n;
  }
  return EngineError(404, absl::StrCat("network ", name, " not found"));
}

absl::Status FakeDockerEngine::ConnectNetwork(const std::string& network,
                                              const std::string& container) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(EnterLocked("ConnectNetwork"));
  Container* c = ResolveContainer(container);
  if (c == nullptr) return EngineError(404, absl::StrCat("No such container: ", container));
  for (const auto& [id, n] : networks_) {
    if (n.name == network || id == network) {
      c->details.networks.push_back(n.name);
      return absl::OkStatus();
    }
  }
  return EngineError(404, absl::StrCat("network ", network, " not found"));
}

absl::StatusOr<VolumeDetails> FakeDockerEngine::InspectVolume(const std::string& name) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = EnterLocked("InspectVolume"); !s.ok()) return s;
  auto it = volumes_.find(name);
  if (it == volumes_.end()) return EngineError(404, absl::StrCat("get ", name, ": no such volume"));
  return it->second;
}

absl::StatusOr<VolumeDetails> FakeDockerEngine::CreateVolume(
    const std::string& name, const std::map<std::string, std::string>& labels) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = EnterLocked("CreateVolume"); !s.ok()) return s;
  auto [it, added] = volumes_.emplace(name, VolumeDetails{name, "local", labels});
  if (added) Emit("volume", "create", name, {});
  return it->second;
}

// --- Events ---

std::optional<FakeDockerEngine::Item> FakeDockerEngine::EventItem(
    const EventsOptions& o, size_t* cursor,
    const std::function<bool(const EngineEvent&)>& deliver) {
  while (*cursor < events_.size()) {
    const EngineEvent e = events_[(*cursor)++];
    const auto& types = Filter(o.filters, "type");
    if (!types.empty() && std::find(types.begin(), types.end(), e.type) == types.end()) continue;
    const auto& containers = Filter(o.filters, "container");
    if (!containers.empty() &&
        std::find(containers.begin(), containers.end(), e.actor_id) == containers.end()) {
      continue;
    }
    if (o.until > 0 && e.time_nano > o.until * 1000000000LL) continue;
    return Item([e, deliver] { return deliver(e); });
  }
  return std::nullopt;
}

size_t FakeDockerEngine::FirstEventSince(int64_t since) const {
  if (since == 0) return events_.size();
  size_t i = 0;
  while (i < events_.size() && events_[i].time_nano < since * 1000000000LL) ++i;
  return i;
}

absl::Status FakeDockerEngine::Events(const EventsOptions& o, const std::function<void()>& on_open,
                                      const EventCallback& on_event, CancelToken* cancel) {
  size_t cursor = 0;
  {
    absl::MutexLock lock(&mu_);
    RETURN_IF_ERROR(EnterLocked("Events"));
    cursor = FirstEventSince(o.since);
  }
  if (on_open) on_open();
  auto state = NewStream(cancel);
  absl::Status s = RunStream("Events", *state, o.until == 0, [&](size_t) {
    return EventItem(o, &cursor, [&on_event](const EngineEvent& e) { return on_event(e); });
  });
  EndStream(*state, cancel);
  return s;
}

// --- Async forms ---

std::shared_ptr<AsyncCall> FakeDockerEngine::NewAsyncCall() {
  auto state = std::make_shared<StreamState>();
  state->async = true;
  auto call = std::make_shared<AsyncCall>([state] { state->cancelled = true; },
                                          [state] { ++state->resumes; });
  // The call owns its state through the hooks; the fake finds it by address.
  absl::MutexLock lock(&mu_);
  async_states_[call.get()] = state;
  return call;
}

std::shared_ptr<FakeDockerEngine::StreamState> FakeDockerEngine::StateOf(const AsyncCall* call) {
  absl::MutexLock lock(&mu_);
  auto it = async_states_.find(call);
  if (it != async_states_.end()) return it->second;
  auto state = std::make_shared<StreamState>();
  state->async = true;
  return state;
}

void FakeDockerEngine::InspectContainerAsync(
    const std::shared_ptr<AsyncCall>& call, const std::string& id,
    std::function<void(absl::StatusOr<ContainerDetails>)> done) {
  Spawn([this, call, id, done = std::move(done)] { done(InspectContainer(id)); });
}

void FakeDockerEngine::ContainerLogsAsync(const std::shared_ptr<AsyncCall>& call,
                                          const LogsOptions& o, bool tty,
                                          std::function<bool(LogFrame frame)> on_frame,
                                          EndCallback on_end) {
  auto state = StateOf(call.get());
  Spawn([this, call, state, o, tty, on_frame = std::move(on_frame), on_end = std::move(on_end)] {
    absl::Status s = Enter("ContainerLogs");
    std::string full;
    if (s.ok()) {
      absl::MutexLock lock(&mu_);
      const Container* c = ResolveContainer(o.id);
      if (c == nullptr) s = EngineError(404, absl::StrCat("No such container: ", o.id));
      if (c != nullptr) full = c->details.id;
    }
    if (s.ok()) {
      s = RunStream("ContainerLogs", *state, o.follow, [&](size_t index) -> std::optional<Item> {
        auto it = containers_.find(full);
        if (it == containers_.end() || index >= it->second.output.size()) return std::nullopt;
        LogFrame f = it->second.output[index];
        if (tty) f.stream = LogFrame::Stream::kConsole;
        return Item([f, &on_frame] { return on_frame(f); });
      });
    }
    on_end(s);
  });
}

void FakeDockerEngine::EventsAsync(const std::shared_ptr<AsyncCall>& call, const EventsOptions& o,
                                   std::function<bool(EngineEvent event)> on_event,
                                   EndCallback on_end) {
  auto state = StateOf(call.get());
  size_t cursor = 0;
  absl::Status entered;
  {
    absl::MutexLock lock(&mu_);
    entered = EnterLocked("Events");
    cursor = FirstEventSince(o.since);
  }
  Spawn([this, call, state, o, cursor, entered, on_event = std::move(on_event),
         on_end = std::move(on_end)]() mutable {
    if (!entered.ok()) return on_end(entered);
    on_end(RunStream("Events", *state, o.until == 0, [&](size_t) {
      return EventItem(o, &cursor, [&on_event](const EngineEvent& e) { return on_event(e); });
    }));
  });
}

void FakeDockerEngine::PushAsync(const std::shared_ptr<AsyncCall>& call, const PushOptions& o,
                                 std::function<bool(const JsonMessage& message)> on_message,
                                 EndCallback on_end) {
  auto state = StateOf(call.get());
  Spawn([this, call, state, o, on_message = std::move(on_message), on_end = std::move(on_end)] {
    on_end(PushStream(o, on_message, *state));
  });
}

void FakeDockerEngine::PullAsync(const std::shared_ptr<AsyncCall>& call, const PullOptions& o,
                                 std::function<bool(const JsonMessage& message)> on_message,
                                 EndCallback on_end) {
  auto state = StateOf(call.get());
  Spawn([this, call, state, o, on_message = std::move(on_message), on_end = std::move(on_end)] {
    on_end(PullStream(o, on_message, *state));
  });
}

}  // namespace dkd::core::testing
