#include <cstdio>
#include <vector>

#include <descent/descent.hpp>
#include <descent/nn.hpp>

// A 2-4-2 network on one example: the loss is finite and one Adam step on its parameters lowers it.
int main() {
  descent::nn::MLPConfig config;
  config.layers = {2, 4, 2};
  descent::nn::MLP<float> mlp(config);
  const std::vector<float> input{0.5f, -1.0f};
  const std::vector<std::int32_t> label{1};
  const double before = mlp.loss(input, label, true);
  descent::Adam adam(mlp.parameters(), descent::AdamOptions(0.01));
  adam.step();
  const double after = mlp.loss(input, label, false);
  std::printf("loss %g -> %g\n", before, after);
  return after < before ? 0 : 1;
}
