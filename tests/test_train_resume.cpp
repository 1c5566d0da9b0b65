// Resuming nn::train from a training checkpoint whose run state has been tampered with: each value a run
// cannot have written (a NaN or infinite loss sum, a 500% accuracy, a negative loss, a misnumbered epoch,
// more counted batches than taken, another learning rate) is refused with its value named, before the
// model changes. And what a run writes (a diverged run's, too) it reads back.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <span>
#include <regex>
#include <string>
#include <vector>

#include "descent/checkpoint.hpp"
#include "descent/error.hpp"
#include "descent/nn/train.hpp"
#include "descent/optimizers/sgd.hpp"
#include "descent/schedule.hpp"

namespace descent {
namespace {

namespace fs = std::filesystem;

class TrainResume : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("descent-test-train-resume-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    model_.layers = {2, 8, 2};
    // 2000 spirals in batches of 500: 4 steps an epoch. Stopping at 6 leaves one epoch in the history and
    // the second half done, so the checkpoint has a loss sum, counted batches and a position.
    config_.options = {{"lr", 0.01}};
    config_.epochs = 3;
    config_.batch_size = 500;
    config_.checkpoint = dir_ / "run.safetensors";
    config_.max_steps = 6;
    nn::MLP<float> mlp(model_);
    nn::train(mlp, data_.train, data_.test, config_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // The saved checkpoint with `pattern` replaced by `replacement` in its training state, saved as a new file.
  fs::path tampered(const std::string& pattern, const std::string& replacement) {
    StateDict dict = load_checkpoint(config_.checkpoint);
    std::string& training = dict.metadata.at("training");
    const std::string changed = std::regex_replace(training, std::regex(pattern), replacement,
                                                   std::regex_constants::format_first_only);
    EXPECT_NE(changed, training) << "the pattern " << pattern << " is not in " << training;
    training = changed;
    const fs::path file = dir_ / "tampered.safetensors";
    save_checkpoint(file, dict);
    return file;
  }

  // Resumes from `file` and returns the error's message ("" if none); the model must not change.
  std::string resume_error(const fs::path& file, nn::TrainConfig config) {
    config.resume = file;
    config.checkpoint.clear();
    config.max_steps = 0;
    nn::MLP<float> mlp(model_);
    const std::vector<float> before(mlp.values().begin(), mlp.values().end());
    try {
      nn::train(mlp, data_.train, data_.test, config);
    } catch (const InvalidArgument& e) {
      EXPECT_TRUE(std::equal(before.begin(), before.end(), mlp.values().begin())) << "a refused resume changed the model";
      return e.what();
    }
    return "";
  }
  std::string resume_error(const fs::path& file) { return resume_error(file, config_); }

  fs::path dir_;
  nn::TrainTest data_ = nn::make_spirals();
  nn::MLPConfig model_;
  nn::TrainConfig config_;
};

TEST_F(TrainResume, AnUntouchedCheckpointResumes) { EXPECT_EQ(resume_error(config_.checkpoint), ""); }

TEST_F(TrainResume, NonFiniteOrNegativeLossSumsAreRefused) {
  for (const std::string value : {"nan", "inf", "-inf", "-1"}) {
    const std::string error = resume_error(tampered(R"("epoch_loss_sum":"[^"]*")", "\"epoch_loss_sum\":\"" + value + "\""));
    EXPECT_NE(error.find("'epoch_loss_sum' = " + value), std::string::npos) << error;
  }
}

TEST_F(TrainResume, AccuraciesOutsideZeroToOneAreRefused) {
  for (const std::string value : {"5", "-0.5", "nan"}) {
    const std::string error = resume_error(tampered(R"("test_accuracy":"[^"]*")", "\"test_accuracy\":\"" + value + "\""));
    EXPECT_NE(error.find("'test_accuracy' = " + value + " is not a fraction"), std::string::npos) << error;
  }
}

TEST_F(TrainResume, NegativeLossesAndBadRatesInTheHistoryAreRefused) {
  std::string error = resume_error(tampered(R"("test_loss":"[^"]*")", R"("test_loss":"-2")"));
  EXPECT_NE(error.find("'test_loss' = -2 is negative"), std::string::npos) << error;
  error = resume_error(tampered(R"("train_loss":"[^"]*")", R"("train_loss":"-inf")"));
  EXPECT_NE(error.find("'train_loss' = -inf is negative"), std::string::npos) << error;
  error = resume_error(tampered(R"re(("history":\[\{.*)"lr":"[^"]*")re", R"re($1"lr":"inf")re"));
  EXPECT_NE(error.find("'lr' = inf is not a learning rate"), std::string::npos) << error;
  error = resume_error(tampered(R"("epoch_lr":"[^"]*")", R"("epoch_lr":"-0.01")"));
  EXPECT_NE(error.find("'epoch_lr' = -0.01"), std::string::npos) << error;
}

TEST_F(TrainResume, CountsThatDoNotAddUpAreRefused) {
  // 6 steps: 4 in epoch 1, 2 in epoch 2; at most 2 batches can be counted in the current epoch.
  std::string error = resume_error(tampered(R"("epoch_batches":"[^"]*")", R"("epoch_batches":"3")"));
  EXPECT_NE(error.find("'epoch_batches' = 3 is more than the 2 batches"), std::string::npos) << error;
  error = resume_error(tampered(R"re(("history":\[\{)"epoch":"1")re", R"re($1"epoch":"2")re"));
  EXPECT_NE(error.find("epoch 1 of the history is numbered 2"), std::string::npos) << error;
  error = resume_error(tampered(R"re(("history":\[\{"epoch":"1",)"steps":"4")re", R"re($1"steps":"7")re"));
  EXPECT_NE(error.find("'steps' = 7 is not from 0 to the run's 6"), std::string::npos) << error;
}

TEST_F(TrainResume, AnotherLearningRateOrOptionIsRefusedNamingBoth) {
  nn::TrainConfig other = config_;
  other.options = {{"lr", 0.5}, {"beta1", 0.8}};
  const std::string error = resume_error(config_.checkpoint, other);
  EXPECT_NE(error.find("lr = 0.01 (this one: 0.5)"), std::string::npos) << error;
  EXPECT_NE(error.find("beta1 = 0.9 (this one: 0.8)"), std::string::npos) << error;
  other.options = {{"lr", 0.01}, {"beta1", 0.9}};  // the saved values, one of them the default given explicitly
  EXPECT_EQ(resume_error(config_.checkpoint, other), "");
}

// A diverging run that skips its non-finite steps: its epochs report NaN or infinite losses, but the loss
// sum it saves holds only finite losses, so that its checkpoint loads.
// A checkpoint whose run metadata is missing, not JSON or not an object is refused naming the file and
// the key (src/checkpoint/metadata.hpp: one reader for nn::train's and descent::dist's metadata).
TEST_F(TrainResume, MissingOrMalformedRunMetadataIsRefusedNamingTheKey) {
  const auto with_training = [&](const std::string& name, const std::string* text) {
    StateDict dict = load_checkpoint(config_.checkpoint);
    if (text) {
      dict.metadata["training"] = *text;
    } else {
      dict.metadata.erase("training");
    }
    const fs::path file = dir_ / name;
    save_checkpoint(file, dict);
    return file;
  };
  const fs::path none = with_training("none.safetensors", nullptr);
  EXPECT_EQ(resume_error(none), none.string() + ": no 'training' metadata: not a training checkpoint");
  const std::string list = "[1]", cut = "{\"steps\":";
  const fs::path listed = with_training("list.safetensors", &list);
  EXPECT_EQ(resume_error(listed), listed.string() + ": metadata 'training' is not an object");
  const fs::path broken = with_training("broken.safetensors", &cut);
  EXPECT_EQ(resume_error(broken).rfind(broken.string() + ": metadata 'training': invalid JSON: ", 0), 0u)
      << resume_error(broken);
}

TEST(ScheduleMetadata, ATextThatIsNotAnObjectIsRefusedNamingTheSource) {
  std::vector<float> w(1), g(1);
  SGD sgd({Parameter("w", std::span(w), std::span(g))}, SGDOptions(0.1));
  StepLR schedule(sgd, 1);
  const auto error = [&](const std::string& text) {
    try {
      nn::load_schedule_metadata(schedule, text, "run.safetensors");
    } catch (const InvalidArgument& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_EQ(error("[1]"), "run.safetensors: schedule state is not an object");
  EXPECT_EQ(error("{").rfind("run.safetensors: schedule state: invalid JSON: ", 0), 0u) << error("{");
}

TEST_F(TrainResume, ADivergedRunWithSkippedStepsReadsBackWhatItWrote) {
  nn::TrainConfig diverging = config_;
  diverging.optimizer = "sgd";
  diverging.options = {{"lr", 1e30}};
  diverging.nonfinite = NonFinitePolicy::Skip;
  diverging.checkpoint = dir_ / "diverged.safetensors";
  nn::MLP<float> mlp(model_);
  std::unique_ptr<Optimizer> optimizer;
  const auto history = nn::train(mlp, data_.train, data_.test, diverging, {}, &optimizer);
  ASSERT_GT(optimizer->skipped_steps(), 0) << "the run did not diverge: the test shows nothing";
  ASSERT_EQ(history.size(), 1U);
  EXPECT_TRUE(std::isfinite(history[0].train_loss));  // the first step's loss; the skipped ones are not counted
  EXPECT_EQ(resume_error(diverging.checkpoint, diverging), "");
}

}  // namespace
}  // namespace descent
