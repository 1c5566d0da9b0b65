// Fit w to minimize the mean squared distance to a target, with Adam: the smallest complete use of descent.
#include <cstdio>
#include <vector>

#include "descent/descent.hpp"

int main() {
  const std::vector<float> target{1.0f, -2.0f, 0.5f, 3.0f};
  std::vector<float> w(target.size(), 0.0f), grad(target.size());

  descent::Adam adam({descent::Parameter("w", w, grad)}, descent::AdamOptions(0.1));
  for (int step = 0; step < 200; ++step) {
    for (std::size_t i = 0; i < w.size(); ++i) grad[i] = 2.0f * (w[i] - target[i]) / float(w.size());  // d/dw mean((w-t)^2)
    adam.step();
  }
  std::printf("w = %.3f %.3f %.3f %.3f after %lld steps (target 1 -2 0.5 3)\n", w[0], w[1], w[2], w[3],
              static_cast<long long>(adam.step_count("w")));
  std::printf("exp_avg_sq of w[0]: %.3g\n", adam.state<float>("w", "exp_avg_sq")[0]);
}
