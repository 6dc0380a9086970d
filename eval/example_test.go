package eval_test

import (
	"fmt"
	"os"

	"plp/eval"
)

// A method's scores on the ID test set and on each OOD set become Records, then a table. Checked by
// hand: 11 of the 12 ID/OOD pairs are ordered correctly (AUROC 11/12), and 95% TPR falls on the
// segment where the fourth ID sample enters after one of three OOD samples (FPR95 1/3).
func Example() {
	logits := map[string][]float32{ // [n, 3] logits per set
		"CIFAR10":  {4, 0, 0, 0, 5, 1, 3, 3, 0, 0, 1, 6},
		"CIFAR100": {1, 1, 0, 2, 1, 2, 0, 3, 0},
	}
	id, _ := eval.MSP(logits["CIFAR10"], 3, 1)
	ood, _ := eval.MSP(logits["CIFAR100"], 3, 1)
	rec, err := eval.Evaluate("CIFAR10", "CIFAR100", eval.MethodMSP, map[string]float64{"temperature": 1}, id, ood)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("AUROC %.2f FPR95 %.2f\n", rec.AUROC, rec.FPR95)
	eval.WriteMarkdown(os.Stdout, []eval.Record{rec})
	// Output:
	// AUROC 91.67 FPR95 33.33
	// ## ID: CIFAR10
	//
	// Leaderboard, ID: CIFAR10 (sorted by mean AUROC; best per column in bold)
	//
	// | method | CIFAR100 AUROC ↑ | CIFAR100 FPR95 ↓ | mean AUROC ↑ | mean FPR95 ↓ |
	// |---|---:|---:|---:|---:|
	// | msp (temperature=1) | **91.67** | **33.33** | **91.67** | **33.33** |
	//
	// ### CIFAR10 vs CIFAR100
	//
	// | method | AUROC | FPR95 | AUPR-In | AUPR-Out |
	// |---|---:|---:|---:|---:|
	// | msp (temperature=1) | 91.67 | 33.33 | 95.00 | 91.67 |
}
