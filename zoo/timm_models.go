package zoo

import (
	"fmt"
	"strconv"
	"strings"

	"plp/convnext"
	"plp/resnet"
	"plp/vit"
)

// timmEps is the eps of every timm LayerNorm.
const timmEps = 1e-6

// Key-mapping tables, one per checkpoint family. Every table is explicit about what it sets aside; all
// other keys must be exactly the model's.
var (
	// timmKeys: timm checkpoints (Hugging Face hub model.safetensors / pytorch_model.bin) already use the
	// model's names.
	timmKeys = KeyMap{Family: "timm"}
	// maeKeys: facebookresearch/mae pretraining checkpoints hold {"model": state dict} with the encoder
	// under timm's names plus the pixel decoder, which feature extraction does not use.
	maeKeys = KeyMap{Family: "mae", StateDict: "model", Drop: []string{"decoder_", "mask_token"},
		Why: "decoder_* and mask_token (MAE's pixel decoder)"}
	// msnKeys: facebookresearch/msn checkpoints hold the EMA encoder under "target_encoder", wrapped by
	// DistributedDataParallel ("module."), with MSN's projection head fc.* on top.
	msnKeys = KeyMap{Family: "msn", StateDict: "target_encoder", StripPrefix: []string{"module."}, Drop: []string{"fc."},
		Why: "fc.* (MSN's projection head)"}
	// ibotKeys: bytedance/ibot checkpoint_teacher.pth holds {"state_dict": teacher backbone}; full
	// training checkpoints prefix it with "backbone." (and DDP's "module.") next to the iBOT head.
	ibotKeys = KeyMap{Family: "ibot", StateDict: "state_dict", StripPrefix: []string{"module.", "backbone."},
		Drop: []string{"head.", "masked_embed"}, Why: "head.* (iBOT projection head) and masked_embed (mask token)"}
	// beitKeys: microsoft/unilm BEiT checkpoints hold {"model": state dict} under timm's Beit names; they
	// also store each block's relative_position_index buffer, which plp recomputes from the patch grid.
	beitKeys = KeyMap{Family: "beit", StateDict: "model", Drop: []string{"*.relative_position_index"},
		Why: "blocks.*.attn.relative_position_index (recomputed from the patch grid)"}
	// torchvisionKeys: torchvision's ConvNeXt (features.*, classifier.*) under timm's names. The paper
	// replaces the classifier (LayerNorm2d, Flatten, Linear) by Flatten, so it is set aside.
	torchvisionKeys = KeyMap{Family: "torchvision", Drop: []string{"classifier."}, Rename: torchvisionConvNeXtKey,
		Squeeze: []string{".gamma"}, Why: "classifier.* (the paper replaces torchvision's classifier by Flatten)"}
)

// torchvisionConvNeXtKey maps a torchvision ConvNeXt key to timm's: features.0 is the stem, the odd
// features are the stages' blocks (block.0 the depthwise convolution, block.2 the LayerNorm, block.3 and
// block.5 the MLP, layer_scale the gamma) and the even ones the downsampling layers. Other keys are kept,
// so that the strict load reports them.
func torchvisionConvNeXtKey(k string) string {
	p := strings.SplitN(k, ".", 4) // features, i, j, rest
	if len(p) != 4 || p[0] != "features" {
		return k
	}
	i, err := strconv.Atoi(p[1])
	if err != nil {
		return k
	}
	switch {
	case i == 0:
		return "stem." + p[2] + "." + p[3]
	case i%2 == 0:
		return fmt.Sprintf("stages.%d.downsample.%s.%s", i/2, p[2], p[3])
	}
	block := fmt.Sprintf("stages.%d.blocks.%s.", (i-1)/2, p[2])
	if p[3] == "layer_scale" {
		return block + "gamma"
	}
	for from, to := range map[string]string{"block.0.": "conv_dw.", "block.2.": "norm.", "block.3.": "mlp.fc1.", "block.5.": "mlp.fc2."} {
		if rest, ok := strings.CutPrefix(p[3], from); ok {
			return block + to + rest
		}
	}
	return k
}

// timmPreprocess records the evaluation transform: half selects mean = std = 0.5 with timm's crop_pct
// 0.9 (the augreg ViTs and BEiT), otherwise the paper's default for non-CLIP models (squash to Size,
// ImageNet statistics).
func timmPreprocess(size int, half bool) Preprocess {
	if half {
		return Preprocess{Transform: "timm_vit", Size: size, ResizeMode: "shortest", Interpolation: "bicubic",
			Mean: [3]float32{0.5, 0.5, 0.5}, Std: [3]float32{0.5, 0.5, 0.5}}
	}
	return Preprocess{Transform: "plain224", Size: size, ResizeMode: "squash", Interpolation: "bicubic",
		Mean: [3]float32{0.485, 0.456, 0.406}, Std: [3]float32{0.229, 0.224, 0.225}}
}

// vitCfg is a 224-pixel timm ViT.
func vitCfg(patch, width, layers, heads int, pool string, classes int) *vit.TimmConfig {
	return &vit.TimmConfig{ImageSize: 224, PatchSize: patch, Width: width, Layers: layers, Heads: heads, MLPRatio: 4,
		Pool: pool, NumClasses: classes, Eps: timmEps}
}

var timmHubFiles = []string{"model.safetensors", "pytorch_model.bin"}

func timmSpec(name, arch, tag string, cfg *TimmConfig, half bool, hub string, files []string, url string) *Spec {
	return &Spec{Name: name, Arch: arch, Pretrained: tag, Config: cfg, Preprocess: timmPreprocess(cfg.ImageSize(), half),
		Checkpoint: Checkpoint{HFHub: hub, Files: files, URL: url}}
}

func init() {
	vb := func(classes int) *TimmConfig {
		return &TimmConfig{ViT: vitCfg(16, 768, 12, 12, "token", classes), Keys: timmKeys}
	}
	vl := func(classes int) *TimmConfig {
		return &TimmConfig{ViT: vitCfg(16, 1024, 24, 16, "token", classes), Keys: timmKeys}
	}
	cb := convnext.Base(224, 21841)
	r50 := resnet.ResNet50
	beit := vitCfg(16, 1024, 24, 16, "avg", 21841)
	beit.Beit = true
	cn := func(cfg func(size, classes int) convnext.Config, size int) *TimmConfig {
		c := cfg(size, 1000)
		return &TimmConfig{ConvNeXt: &c, Keys: timmKeys}
	}
	vit384 := func(width, layers, heads int) *TimmConfig {
		c := vitCfg(16, width, layers, heads, "token", 1000)
		c.ImageSize = 384
		return &TimmConfig{ViT: c, Keys: timmKeys}
	}
	beitFT := func(size int) *TimmConfig {
		c := vitCfg(16, 1024, 24, 16, "avg", 1000)
		c.Beit, c.ImageSize = true, size
		return &TimmConfig{ViT: c, Keys: timmKeys}
	}
	tvcb := convnext.Base(224, 0)
	tvcb.NoHeadNorm = true
	tvConvNeXtBase := &TimmConfig{ConvNeXt: &tvcb, Keys: torchvisionKeys}
	const mae, msn, ibot = "https://dl.fbaipublicfiles.com/mae/pretrain/", "https://dl.fbaipublicfiles.com/msn/",
		"https://lf3-nlp-opensource.bytetos.com/obj/nlp-opensource/archive/2022/ibot/"
	register(
		// timm classifiers (ImageNet-21k pretraining, ImageNet-1k fine-tuning unless the name says in21k),
		// preprocessed as the paper's load_backbone does every timm model: plain224 (a bicubic squash to 224
		// with ImageNet statistics), not timm's own crop_pct 0.9 with mean = std = 0.5 (--transform timm_vit).
		timmSpec("timm_vit_small_patch16_224", "vit_small_patch16_224", "augreg_in21k_ft_in1k",
			&TimmConfig{ViT: vitCfg(16, 384, 12, 6, "token", 1000), Keys: timmKeys}, false,
			"timm/vit_small_patch16_224.augreg_in21k_ft_in1k", timmHubFiles, ""),
		timmSpec("timm_vit_base_patch16_224", "vit_base_patch16_224", "augreg2_in21k_ft_in1k", vb(1000), false,
			"timm/vit_base_patch16_224.augreg2_in21k_ft_in1k", timmHubFiles, ""),
		timmSpec("timm_vit_large_patch16_224", "vit_large_patch16_224", "augreg_in21k_ft_in1k", vl(1000), false,
			"timm/vit_large_patch16_224.augreg_in21k_ft_in1k", timmHubFiles, ""),
		timmSpec("timm_vit_large_patch16_224_in21k", "vit_large_patch16_224", "augreg_in21k", vl(21843), false,
			"timm/vit_large_patch16_224.augreg_in21k", timmHubFiles, ""),
		// The original ImageNet-21k ViT-H/14 has a zeroed classifier, which timm's hub copy omits.
		timmSpec("timm_vit_huge_patch14_224_in21k", "vit_huge_patch14_224", "orig_in21k",
			&TimmConfig{ViT: vitCfg(14, 1280, 32, 16, "token", 0), Keys: timmKeys}, false,
			"timm/vit_huge_patch14_224.orig_in21k", timmHubFiles, ""),
		timmSpec("timm_resnet50", "resnet50", "a1_in1k", &TimmConfig{ResNet: &r50, Keys: timmKeys}, false,
			"timm/resnet50.a1_in1k", timmHubFiles, ""),
		timmSpec("timm_convnext_base_in22k", "convnext_base", "fb_in22k", &TimmConfig{ConvNeXt: &cb, Keys: timmKeys}, false,
			"timm/convnext_base.fb_in22k", timmHubFiles, "https://dl.fbaipublicfiles.com/convnext/convnext_base_22k_224.pth"),

		// The paper's Baseline 1 (baseline_fine_tuned_models.py): ImageNet-21k models fine-tuned on
		// ImageNet-1k, at 224 and 384 pixels, scored on their own logits (plp eval --classifier).
		timmSpec("timm_convnext_base_in22ft1k", "convnext_base", "fb_in22k_ft_in1k", cn(convnext.Base, 224), false,
			"timm/convnext_base.fb_in22k_ft_in1k", timmHubFiles, "https://dl.fbaipublicfiles.com/convnext/convnext_base_22k_1k_224.pth"),
		timmSpec("timm_convnext_base_384_in22ft1k", "convnext_base", "fb_in22k_ft_in1k_384", cn(convnext.Base, 384), false,
			"timm/convnext_base.fb_in22k_ft_in1k_384", timmHubFiles, "https://dl.fbaipublicfiles.com/convnext/convnext_base_22k_1k_384.pth"),
		timmSpec("timm_convnext_large_in22ft1k", "convnext_large", "fb_in22k_ft_in1k", cn(convnext.Large, 224), false,
			"timm/convnext_large.fb_in22k_ft_in1k", timmHubFiles, "https://dl.fbaipublicfiles.com/convnext/convnext_large_22k_1k_224.pth"),
		timmSpec("timm_convnext_large_384_in22ft1k", "convnext_large", "fb_in22k_ft_in1k_384", cn(convnext.Large, 384), false,
			"timm/convnext_large.fb_in22k_ft_in1k_384", timmHubFiles, "https://dl.fbaipublicfiles.com/convnext/convnext_large_22k_1k_384.pth"),
		timmSpec("timm_vit_base_patch16_384", "vit_base_patch16_384", "augreg_in21k_ft_in1k", vit384(768, 12, 12), true,
			"timm/vit_base_patch16_384.augreg_in21k_ft_in1k", timmHubFiles, ""),
		timmSpec("timm_vit_large_patch16_384", "vit_large_patch16_384", "augreg_in21k_ft_in1k", vit384(1024, 24, 16), true,
			"timm/vit_large_patch16_384.augreg_in21k_ft_in1k", timmHubFiles, ""),
		timmSpec("timm_beit_large_patch16_224_in22ft1k", "beit_large_patch16_224", "in22k_ft_in22k_in1k", beitFT(224), true,
			"timm/beit_large_patch16_224.in22k_ft_in22k_in1k", timmHubFiles, ""),
		timmSpec("timm_beit_large_patch16_384_in22ft1k", "beit_large_patch16_384", "in22k_ft_in22k_in1k", beitFT(384), true,
			"timm/beit_large_patch16_384.in22k_ft_in22k_in1k", timmHubFiles, ""),

		// torchvision's ImageNet-1k ConvNeXt-B (IMAGENET1K_V1), as the paper's load_backbone builds
		// "convnext_base": the classifier replaced by Flatten, so the feature is the pooled last stage
		// without the head's LayerNorm.
		timmSpec("convnext_base", "convnext_base", "torchvision_in1k_v1", tvConvNeXtBase, false,
			"", []string{"convnext_base-6075fbad.pth"}, "https://download.pytorch.org/models/convnext_base-6075fbad.pth"),

		// Self-supervised ViTs from their authors' checkpoints: class token after the trained final norm,
		// the feature their linear-probe evaluations use.
		timmSpec("mae_vit_base", "vit_base_patch16", "mae_pretrain", &TimmConfig{ViT: vitCfg(16, 768, 12, 12, "token", 0), Keys: maeKeys}, false,
			"", []string{"mae_pretrain_vit_base.pth"}, mae+"mae_pretrain_vit_base.pth"),
		timmSpec("mae_vit_large", "vit_large_patch16", "mae_pretrain", &TimmConfig{ViT: vitCfg(16, 1024, 24, 16, "token", 0), Keys: maeKeys}, false,
			"", []string{"mae_pretrain_vit_large.pth"}, mae+"mae_pretrain_vit_large.pth"),
		timmSpec("mae_vit_huge", "vit_huge_patch14", "mae_pretrain", &TimmConfig{ViT: vitCfg(14, 1280, 32, 16, "token", 0), Keys: maeKeys}, false,
			"", []string{"mae_pretrain_vit_huge.pth"}, mae+"mae_pretrain_vit_huge.pth"),
		timmSpec("msn_vit_base", "deit_base_p16", "msn_600ep", &TimmConfig{ViT: vitCfg(16, 768, 12, 12, "token", 0), Keys: msnKeys}, false,
			"", []string{"vitb16_600ep.pth.tar"}, msn+"vitb16_600ep.pth.tar"),
		// The checkpoints the paper's timm_utils.py downloads: the ImageNet-1k ViT-L/16 teacher trained with
		// random masking, and the ImageNet-22k ViT-L/16 student.
		timmSpec("ibot_vit_large", "vit_large", "ibot_in1k_rand_mask", &TimmConfig{ViT: vitCfg(16, 1024, 24, 16, "token", 0), Keys: ibotKeys}, false,
			"", []string{"checkpoint_teacher.pth"}, ibot+"vitl_16_rand_mask/checkpoint_teacher.pth"),
		timmSpec("ibot_vit_large_in21k", "vit_large", "ibot_in22k_student", &TimmConfig{ViT: vitCfg(16, 1024, 24, 16, "token", 0), Keys: ibotKeys}, false,
			"", []string{"checkpoint_student.pth"}, ibot+"vitl_16_pt22k/checkpoint_student.pth"),
		// BEiT-L/16 pretrained and fine-tuned on ImageNet-22k, built as a real Beit: relative position bias
		// per block, layer scale, q/v biases, mean pooling + fc_norm. The paper's code instead loads these
		// weights into a plain timm ViT with strict=False, which silently skips the relative position
		// tables, gammas, q/v biases and fc_norm and leaves a random pos_embed and qkv bias: most of the
		// network is not the published model. plp's strict key table makes that impossible.
		timmSpec("beit_vit_large_in21k", "beit_large_patch16_224", "pt22k_ft22k", &TimmConfig{ViT: beit, Keys: beitKeys}, true,
			"timm/beit_large_patch16_224.in22k_ft_in22k", []string{"beit_large_patch16_224_pt22k_ft22k.pth", "model.safetensors"},
			"https://conversationhub.blob.core.windows.net/beit-share-public/beit/beit_large_patch16_224_pt22k_ft22k.pth"),
	)
}
