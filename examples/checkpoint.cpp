// Save an optimizer's state to a checkpoint, load it into a fresh optimizer, and carry on as if nothing
// had happened: the resumed run ends bitwise where an uninterrupted run ends.
//
//   example_checkpoint [path]     (default: checkpoint.safetensors in the current directory)
//
// The file is a safetensors file (docs/checkpoint-format.md); scripts/read_checkpoint.py reads it:
//   python3 scripts/read_checkpoint.py checkpoint.safetensors
#include <cstdio>
#include <string>
#include <vector>

#include "descent/descent.hpp"

namespace {

// f(w, b) = sum (w_i - tw_i)^2 + sum (b_i - tb_i)^2, a quadratic with its minimum at the targets.
const std::vector<float> kTargetW{1.0f, -2.0f, 0.5f, 3.0f};
const std::vector<float> kTargetB{-1.0f, 0.25f};
constexpr int kSteps = 10;     // steps of the whole run
constexpr int kSaveAfter = 4;  // the interrupted run saves here

// The memory a model owns: parameter values and gradients. The optimizer only views it.
struct Model {
  std::vector<float> w = std::vector<float>(4, 0.0f), w_grad = std::vector<float>(4);
  std::vector<float> b = std::vector<float>(2, 0.0f), b_grad = std::vector<float>(2);

  // Parameters are matched by name when a checkpoint is loaded, so the names are the contract.
  std::vector<descent::Parameter> parameters() {
    return {descent::Parameter("w", w, w_grad, {2, 2}), descent::Parameter("b", b, b_grad)};
  }
  void compute_gradients() {
    for (std::size_t i = 0; i < w.size(); ++i) w_grad[i] = 2.0f * (w[i] - kTargetW[i]);
    for (std::size_t i = 0; i < b.size(); ++i) b_grad[i] = 2.0f * (b[i] - kTargetB[i]);
  }
};

void train(Model& model, descent::Optimizer& opt, int steps) {
  for (int s = 0; s < steps; ++s) {
    model.compute_gradients();
    opt.step();
  }
}

// One line per value list, "name=v1,v2,...", with 9 significant digits: enough to give back every
// float exactly, and the form scripts/read_checkpoint.py --expect takes.
void print_values(const char* label, const std::string& name, const std::vector<float>& values) {
  std::printf("%s %s=", label, name.c_str());
  for (std::size_t i = 0; i < values.size(); ++i) std::printf("%s%.9g", i ? "," : "", double(values[i]));
  std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
  const std::string path = argc > 1 ? argv[1] : "checkpoint.safetensors";
  const descent::AdamOptions options = descent::AdamOptions(0.1);

  // 1. The reference: one uninterrupted run.
  Model reference;
  descent::Adam reference_opt(reference.parameters(), options);
  train(reference, reference_opt, kSteps);

  // 2. The interrupted run: a few steps, then a checkpoint. with_parameters=true also stores the
  //    parameter values ("param/w", "param/b"), so the file alone is enough to resume.
  try {
    Model first;
    descent::Adam first_opt(first.parameters(), options);
    train(first, first_opt, kSaveAfter);
    descent::save_checkpoint(path, first_opt.state_dict(/*with_parameters=*/true));
    std::printf("wrote %s after %d steps; it holds:\n", path.c_str(), kSaveAfter);
    print_values("saved", "param/w", first.w);
    print_values("saved", "param/b", first.b);
    std::printf("saved state/w/step=%lld\n", static_cast<long long>(first_opt.step_count("w")));
    const auto m = first_opt.state<float>("w", "exp_avg");
    print_values("saved", "state/w/exp_avg", std::vector<float>(m.begin(), m.end()));
  } catch (const descent::Error& e) {
    std::fprintf(stderr, "example_checkpoint: %s\n", e.what());
    return 1;
  }

  // 3. "Another process": fresh memory (all zeros) and a fresh optimizer with the same parameter names.
  //    load_state_dict is strict by default: every parameter, slot and option must match, else it throws
  //    and changes nothing. It restores the step counts, exp_avg and exp_avg_sq, the options and, from
  //    the "param/" tensors, the values of w and b.
  Model resumed;
  descent::Adam resumed_opt(resumed.parameters(), descent::AdamOptions(0.5));  // lr comes from the file
  try {
    resumed_opt.load_state_dict(descent::load_checkpoint(path));
  } catch (const descent::Error& e) {
    std::fprintf(stderr, "example_checkpoint: %s\n", e.what());
    return 1;
  }
  std::printf("loaded: step %lld, lr %g, w[0] %.9g\n", static_cast<long long>(resumed_opt.step_count("w")),
              resumed_opt.options().lr(), double(resumed.w[0]));
  train(resumed, resumed_opt, kSteps - kSaveAfter);

  // 4. The resumed run and the uninterrupted one agree exactly, parameters and state.
  const bool same = resumed.w == reference.w && resumed.b == reference.b &&
                    resumed_opt.step_count("w") == reference_opt.step_count("w");
  print_values("uninterrupted", "w", reference.w);
  print_values("resumed      ", "w", resumed.w);
  std::printf("after %d steps the resumed run %s the uninterrupted one\n", kSteps,
              same ? "matches bitwise" : "DIFFERS from");
  return same ? 0 : 1;
}
