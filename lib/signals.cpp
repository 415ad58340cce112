#include <childproc/error.hpp>
#include <childproc/signals.hpp>

#include <cctype>
#include <charconv>
#include <csignal>
#include <string>

namespace childproc {
namespace {

struct Named {
  int number;
  std::string_view name;
};

// Canonical names first: signal_name() returns the first match, so aliases that
// follow (SIGIOT, SIGPOLL) are accepted by name but never printed.
constexpr Named kSignals[] = {
    {SIGHUP, "SIGHUP"},       {SIGINT, "SIGINT"},   {SIGQUIT, "SIGQUIT"},   {SIGILL, "SIGILL"},
    {SIGTRAP, "SIGTRAP"},     {SIGABRT, "SIGABRT"}, {SIGBUS, "SIGBUS"},     {SIGFPE, "SIGFPE"},
    {SIGKILL, "SIGKILL"},     {SIGUSR1, "SIGUSR1"}, {SIGSEGV, "SIGSEGV"},   {SIGUSR2, "SIGUSR2"},
    {SIGPIPE, "SIGPIPE"},     {SIGALRM, "SIGALRM"}, {SIGTERM, "SIGTERM"},   {SIGCHLD, "SIGCHLD"},
    {SIGCONT, "SIGCONT"},     {SIGSTOP, "SIGSTOP"}, {SIGTSTP, "SIGTSTP"},   {SIGTTIN, "SIGTTIN"},
    {SIGTTOU, "SIGTTOU"},     {SIGURG, "SIGURG"},   {SIGXCPU, "SIGXCPU"},   {SIGXFSZ, "SIGXFSZ"},
    {SIGVTALRM, "SIGVTALRM"}, {SIGPROF, "SIGPROF"}, {SIGWINCH, "SIGWINCH"}, {SIGIO, "SIGIO"},
    {SIGSYS, "SIGSYS"},
#ifdef SIGPWR
    {SIGPWR, "SIGPWR"},
#endif
#ifdef SIGSTKFLT
    {SIGSTKFLT, "SIGSTKFLT"},
#endif
    {SIGIOT, "SIGIOT"},
#ifdef SIGPOLL
    {SIGPOLL, "SIGPOLL"},
#endif
};

bool iequal(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::toupper(static_cast<unsigned char>(a[i])) != static_cast<unsigned char>(b[i]))
      return false;
  }
  return true;
}

std::optional<int> parse_int(std::string_view s) noexcept {
  int v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

bool is_realtime(int n) noexcept {
#ifdef SIGRTMIN
  return n >= SIGRTMIN && n <= SIGRTMAX;
#else
  (void)n;
  return false;
#endif
}

// "SIGRTMIN+n" for each real-time signal, built once: signal_name returns views.
const std::string* realtime_names() {
#ifdef SIGRTMIN
  static const auto* names = [] {
    auto* v = new std::string[static_cast<std::size_t>(SIGRTMAX - SIGRTMIN + 1)];
    for (int i = 0; i <= SIGRTMAX - SIGRTMIN; ++i)
      v[i] = "SIGRTMIN+" + std::to_string(i);
    return v;
  }();
  return names;
#else
  return nullptr;
#endif
}

}  // namespace

std::string_view signal_name(int number) noexcept {
  for (const auto& s : kSignals) {
    if (s.number == number) return s.name;
  }
  if (is_realtime(number)) return realtime_names()[number - SIGRTMIN];
  return {};
}

std::optional<int> signal_number(std::string_view name) noexcept {
  if (auto n = parse_int(name)) {
    if (*n == 0 || !signal_name(*n).empty()) return n;
    return std::nullopt;
  }
  std::string_view bare = name;
  if (bare.size() > 3 && iequal(bare.substr(0, 3), "SIG")) bare.remove_prefix(3);
  for (const auto& s : kSignals) {
    if (iequal(bare, s.name.substr(3))) return s.number;
  }
#ifdef SIGRTMIN
  if (bare.size() > 6 && iequal(bare.substr(0, 6), "RTMIN+")) {
    if (auto off = parse_int(bare.substr(6)); off && *off >= 0 && *off <= SIGRTMAX - SIGRTMIN) {
      return SIGRTMIN + *off;
    }
  }
#endif
  return std::nullopt;
}

Signal::Signal() noexcept : number_(SIGTERM) {}

Signal::Signal(int number) : number_(number) {
  if (number != 0 && signal_name(number).empty()) throw UnknownSignal(std::to_string(number));
}

Signal::Signal(std::string_view name) {
  auto n = signal_number(name);
  if (!n) throw UnknownSignal(name);
  number_ = *n;
}

Signal::Signal(const char* name) : Signal(std::string_view(name ? name : "")) {}
Signal::Signal(const std::string& name) : Signal(std::string_view(name)) {}

std::string_view Signal::name() const noexcept {
  return number_ == 0 ? std::string_view("0") : signal_name(number_);
}

}  // namespace childproc
