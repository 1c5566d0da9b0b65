// Writes the format-version-1 checkpoints in tests/compat/v1/: built against descent 0.1.0 as it was
// at commit 39112e4 (the last release that wrote version 1), so that later versions are tested on files
// the old code really wrote. Not built by CMake; to regenerate (only ever against that commit):
//   git worktree add /tmp/v1 39112e4 && cmake -S /tmp/v1 -B /tmp/v1/build && cmake --build /tmp/v1/build
//   g++ -std=c++20 -O2 -ffp-contract=off -I/tmp/v1/include tests/compat/make_v1_checkpoints.cpp \
//       /tmp/v1/build/libdescent.a -lhwy -lopenblas -lz -pthread -o /tmp/make_v1
//   /tmp/make_v1 tests/compat/v1
//
// For each optimizer, with options that create every slot it has: 3 steps (the lr halved before the
// third), save "<name>.safetensors"; 4 more steps, save "<name>-after.safetensors". A test loads the
// first into today's code, takes the same 4 steps, and must reach the second bitwise.
#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "descent/descent.hpp"

namespace {

struct Model {
  std::vector<float> w, gw, b, gb;
  std::vector<double> s, gs;
  Model() : w(12), gw(12), b(4), gb(4), s(3), gs(3) {
    for (std::size_t i = 0; i < w.size(); ++i) w[i] = 0.1f * static_cast<float>(i) - 0.5f;
    for (std::size_t i = 0; i < b.size(); ++i) b[i] = 0.25f * static_cast<float>(i);
    for (std::size_t i = 0; i < s.size(); ++i) s[i] = 1.0 + 0.5 * static_cast<double>(i);
  }
  std::vector<descent::Parameter> params() {
    return {descent::Parameter("layer/weight", std::span(w), std::span(gw), {3, 4}),
            descent::Parameter("layer/bias", std::span(b), std::span(gb), {4}),
            descent::Parameter("scale", std::span(s), std::span(gs), {3})};
  }
  void gradient(int step) {
    for (std::size_t i = 0; i < w.size(); ++i) gw[i] = w[i] * 0.5f + std::sin(0.7f * static_cast<float>(i + step));
    for (std::size_t i = 0; i < b.size(); ++i) gb[i] = b[i] - std::cos(0.3f * static_cast<float>(i * step));
    for (std::size_t i = 0; i < s.size(); ++i) gs[i] = s[i] * s[i] - 2.0 + 0.1 * static_cast<double>(step);
  }
};

std::map<std::string, double> full_options(const std::string& name) {
  if (name == "sgd") return {{"lr", 0.05}, {"momentum", 0.9}, {"nesterov", 1}, {"weight_decay", 0.01}};
  if (name == "rmsprop") return {{"lr", 0.01}, {"centered", 1}, {"momentum", 0.5}};
  if (name == "adam" || name == "adamw") return {{"lr", 0.01}, {"amsgrad", 1}};
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : ".";
  for (const std::string_view view : descent::optimizer_names()) {
    const std::string name(view);
    Model m;
    auto opt = descent::make_optimizer(name, m.params(), full_options(name));
    for (int s = 0; s < 7; ++s) {
      if (s == 2) opt->group(0).options().set_lr(opt->group(0).options().lr() * 0.5);
      m.gradient(s);
      opt->step();
      if (s == 2) descent::save_checkpoint(dir + "/" + name + ".safetensors", opt->state_dict(true));
    }
    descent::save_checkpoint(dir + "/" + name + "-after.safetensors", opt->state_dict(true));
    std::printf("%s\n", name.c_str());
  }
}
