package eval

var scaleMethod = &Method{
	Name:  "scale",
	Paper: "Xu et al., Scaling for Training Time and Post-hoc Out-of-distribution Detection Enhancement, ICLR 2024",
	Needs: NeedFeatures | NeedHead,
	ReLU:  true,
	Params: []ParamSpec{
		{Name: "percentile", Kind: FloatParam, Default: "85", Min: 0, Max: 100, Doc: "percentage of activations left out of the scaling factor's denominator"},
	},
	fit: func(s Setting, d *FitData) (Detector, error) {
		return newShaper(shapeSCALE, s.Float("percentile"), d)
	},
}
