#include <cstdio>
#include <vector>

#include <descent/descent.hpp>

int main() {
  std::vector<double> w{4.0}, g(1);
  descent::SGD sgd({descent::Parameter("w", w, g)}, descent::SGDOptions(0.25));
  for (int i = 0; i < 50; ++i) {
    g[0] = 2.0 * w[0];  // f(w) = w^2
    sgd.step();
  }
  std::printf("w = %g\n", w[0]);
  return w[0] > 0.0 && w[0] < 1e-10 ? 0 : 1;  // lr 0.25 halves w each step: 4 * 0.5^50 = 3.6e-15
}
