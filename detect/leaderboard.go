package detect

import (
	"fmt"
	"io"
	"path/filepath"

	"plp/eval"
)

// markdown writes ood_metrics.md: eval's table per ID set, then the leaderboard of every method.
func markdown(w io.Writer, recs []eval.Record) error {
	if err := eval.WriteMarkdown(w, recs); err != nil {
		return err
	}
	if len(recs) == 0 {
		return nil
	}
	if _, err := io.WriteString(w, "\n"); err != nil {
		return err
	}
	return eval.WriteLeaderboard(w, recs)
}

// plotLeaderboard writes plots/leaderboard.{png,svg}: the mean AUROC of every method as a bar.
func (res *Result) plotLeaderboard(dir string, opt Options) error {
	if len(res.Records) == 0 {
		return nil
	}
	return eval.PlotLeaderboard(filepath.Join(dir, "leaderboard"), fmt.Sprintf("%s: mean AUROC per method", opt.Dataset), res.Records)
}
