// Package eval scores samples for out-of-distribution (OOD) detection and measures how well the scores
// separate in-distribution (ID) from OOD data, reproducing the paper's evaluation code and the
// scikit-learn metrics it calls, rounding included.
//
// Sign convention: every score is "higher = more in-distribution" (MSP, energy and kNN similarity are
// large for ID samples; Mahalanobis scores are negated distances). In the metrics ID is the positive
// class, exactly as the paper labels cat(ones(n_id), zeros(n_ood)).
//
// Inputs are plain row-major float32/float64 slices; the package needs no model.
//
// The pieces, in the order a run uses them:
//   - scores: MSP, Energy, L1Norm, MaxLogit, MaxNormalized and ScoreLogits on logits; ZeroShotLogits
//     (pseudo-MSP = MSP on them) and PseudoLabelProbs; FitMahalanobis + (*Mahalanobis).Scores; NewKNN +
//     (*KNN).Scores, and the kNN classifier (*KNN).Votes with TopKAccuracy;
//   - post-hoc methods of the OOD literature (OpenOOD's names and parameters, one file each: gen.go,
//     vim.go, ...): Methods lists the registry, ParseMethods turns names and NAME.KEY=VALUE parameters
//     into Settings, (Setting).Fit fits one on the ID train split (FitData) into a Detector that scores a
//     Batch;
//   - metrics: ROCCurve, AUROC, FPR95, AveragePrecision, Compute, Accuracy;
//   - reports: Evaluate/EvaluateAll build Records; WriteJSON (ood_metrics.json), ReadJSON, WriteCSV,
//     WriteMarkdown, WriteLeaderboard; PlotROC, PlotHistogram and PlotLeaderboard write PNG and SVG.
package eval
