package main

import (
	"encoding/json"
	"testing"
)

func TestBenchModel(t *testing.T) {
	for _, args := range [][]string{{"--tower", "image"}, {"--tower", "text"}, {"--tower", "text", "--text-ids", "random"}} {
		tower := args[1]
		out, err := runPLP(t, append([]string{"bench", "--model", fixtureDir + "openclip_vit_f16.json", "--batch", "3", "--iters", "2", "--json"}, args...)...)
		if err != nil {
			t.Fatalf("%s: %v", tower, err)
		}
		var r map[string]any
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("%q: %v", out, err)
		}
		if r["model"] != "openclip_vit_f16" || r["batch"] != 3.0 || r["tower"] != tower || r["weights"] != "random" ||
			!(r["items_per_s"].(float64) > 0) || !(r["peak_rss_mb"].(float64) > 1) {
			t.Fatalf("%s: %v", tower, r)
		}
	}
	for _, args := range [][]string{
		{"bench", "--model", "no-such-model"},
		{"bench", "--model", fixtureDir + "openclip_vit_f16.json", "--tower", "audio"},
		{"bench", "--model", fixtureDir + "openclip_vit_f16.json", "--batch", "0"},
		{"bench", "--model", fixtureDir + "openclip_vit_f16.json", "--tower", "text", "--text-ids", "words"},
	} {
		if _, err := runPLP(t, args...); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}
