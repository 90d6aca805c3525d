// The dataset factory: a project's "dataset" section (DatasetSpec) -> the training and
// validation sets plus what the DataLoader should do to them (normalisation, augmentation).
//
//   ProjectSpec p = load_project("resources/examples/lenet-mnist.ngraph");
//   TrainingData d = make_datasets(p.dataset, "resources/examples");   // the project's folder
//   d.train->size();   // 7996
//
// Per kind (paths relative to project_dir unless absolute):
//   mnist         load_mnist_sample(path); an empty path looks for datasets/mnist in
//                 project_dir and each folder above it (so the bundled examples find the
//                 repository's copy). Its own 80/20 split.
//   idx           path holds train-*-ubyte[.gz] and, when present, t10k-*-ubyte[.gz] (the
//                 validation set); without t10k files the training set is split.
//   cifar10       path holds data_batch_*.bin and test_batch.bin (test = validation).
//   csv           path is the file; label_column; task classification | regression; split.
//   image_folder  path has one folder per class; image_size [h, w] (empty: the size of the
//                 first image, classes and files in sorted order); channels 1 (grey) or 3
//                 (RGB), 0: as that first image is stored; split.
//   synthetic     generator spiral | circles | moons | xor | blobs | sine (also accepted:
//                 regression1d) with size, noise, classes, seed; split.
// "split": val_fraction of the samples validate (0: no validation set). Classification sets
// are split per class; synthetic sets and regression tables draw the validation samples at
// random with the dataset's seed (their samples are ordered), the others keep the first
// (1 - val_fraction) of each class for training, so the split is stable across runs.
// normalize: per-channel mean/std of the training split, applied to both splits.
// augment_flip / augment_crop_padding: training split only.
//
// Errors (ng::Error) name the project's dataset field and say how to get missing data:
// "dataset.path: MNIST sample not found in '/x/datasets/mnist': run datasets/fetch_mnist.sh".
#pragma once

#include <string>

#include "engine/data/dataloader.h"
#include "engine/data/dataset.h"
#include "engine/io/project.h"

namespace ng::train {

struct TrainingData {
  data::DatasetPtr train;
  data::DatasetPtr val;               // null when there is no validation set
  data::Normalization normalization;  // for both splits; empty: none
  data::Augmentation augmentation;    // for the training split
};

TrainingData make_datasets(const DatasetSpec& spec, const std::string& project_dir);

}  // namespace ng::train
