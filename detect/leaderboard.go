package detect

import (
	"fmt"
	"io"
	"path/filepath"

	"plp/eval"
)

// markdown writes ood_metrics.md: per ID set the leaderboard of every method, then a table per OOD set
// (eval.WriteMarkdown).
func markdown(w io.Writer, recs []eval.Record) error {
	return eval.WriteMarkdown(w, recs)
}

// plotLeaderboard writes plots/leaderboard.{png,svg}: the mean AUROC of every method as a bar.
func (res *Result) plotLeaderboard(dir string, opt Options) error {
	if len(res.Records) == 0 {
		return nil
	}
	return eval.PlotLeaderboard(filepath.Join(dir, "leaderboard"), fmt.Sprintf("%s: mean AUROC per method", opt.Dataset), res.Records)
}
