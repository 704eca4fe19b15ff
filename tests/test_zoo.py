"""Model zoo: full-size parameter counts (on the meta device), names, shapes, gradients,
dataset heads (num_classes / image_size) and the SAT paper's models in `satsim list models`."""

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402

from satsim.capture.nm import sparsify  # noqa: E402
from satsim.capture.zoo import MODELS, build_model, example_input  # noqa: E402
from satsim.cli import main  # noqa: E402
from satsim.errors import SatsimError  # noqa: E402

pytestmark = pytest.mark.torch
torch.set_num_threads(1)

# Tiny variants: same structure, a few thousand parameters, millisecond steps.
TINY: dict[str, tuple[dict, dict]] = {  # name -> (build options, input options)
    "resnet9-cifar": ({"width": 8, "num_classes": 7}, {"image_size": 16}),
    "vgg19-cifar": ({"width": 4, "num_classes": 7}, {"image_size": 32}),
    "resnet18-cifar": ({"width": 4, "num_classes": 7}, {"image_size": 16}),
    "resnet50-imagenet": ({"width": 4, "layers": (1, 1, 1, 1), "num_classes": 7},
                          {"image_size": 32}),
    "vgg16-cifar": ({"width": 4, "num_classes": 7}, {"image_size": 32}),
    "vit-tiny": ({"image_size": 32, "patch": 8, "dim": 24, "depth": 2, "heads": 3,
                  "num_classes": 7}, {"image_size": 32}),
    "gpt2-small": ({"vocab": 97, "context": 16, "dim": 24, "layers": 2, "heads": 3},
                   {"vocab": 97, "context": 16, "seq": 8}),
}

# VGG-16-BN, CIFAR, one Linear classifier:
#   conv weights + biases (torchvision's VGG-16 features)   14,714,688
#   batch-norm weight + bias: 2 x (2*64 + 2*128 + 3*256 + 6*512)     8,448
#   classifier 512 x 10 + 10                                      5,130
#   total                                                    14,728,266
# VGG-19-BN: 20,024,384 conv + 2 x (2*64 + 2*128 + 4*256 + 8*512) bn + 5,130 = 20,040,522.
# ResNet-9, 9 * C_in * C_out per conv (no bias) + 2 * C_out per bn:
#   prep 3->64: 1,728 + 128; layer1 64->128: 73,728 + 256; its residual 2 x (147,456 + 256);
#   layer2 128->256: 294,912 + 512; layer3 256->512: 1,179,648 + 1,024;
#   its residual 2 x (2,359,296 + 1,024); fc 512 x 10 + 10 = 5,130; total 6,573,130.
FULL_PARAMS = {
    "resnet9-cifar": 6_573_130,
    "vgg19-cifar": 20_040_522,
    "resnet18-cifar": 11_173_962,
    "resnet50-imagenet": 25_557_032,
    "vgg16-cifar": 14_728_266,
    "vit-tiny": 5_717_416,
    "gpt2-small": 124_439_808,  # lm_head tied to wte: the shared weight counts once
    # The model cards' counts (Hugging Face): LLaMA-2 7B 6,738,415,616 and 13B 13,015,864,320;
    # LLaMA-3 8B 8,030,261,248; TinyLlama 1.1B 1,100,048,384.
    "tinyllama-1.1b": 1_100_048_384,
    "llama2-7b": 6_738_415_616,
    "llama3-8b": 8_030_261_248,
    "llama2-13b": 13_015_864_320,
}


def _meta(name: str, **options) -> nn.Module:
    with torch.device("meta"):
        return build_model(name, **options)


def _params(model: nn.Module) -> int:
    # parameters() yields a shared (tied) tensor once.
    return sum(p.numel() for p in model.parameters())


def _tiny(name: str) -> tuple[nn.Module, torch.Tensor]:
    build, inputs = TINY[name]
    torch.manual_seed(0)
    return build_model(name, **build), example_input(MODELS[name], 2, **inputs)


def test_registry_covers_the_eleven_models():
    """MODELS holds the eleven zoo models, each keyed by its own spec name."""
    assert set(MODELS) == set(FULL_PARAMS)
    assert all(spec.name == name for name, spec in MODELS.items())


@pytest.mark.parametrize("name", sorted(FULL_PARAMS))
def test_full_size_parameter_count(name):
    """With default options each model has its published parameter count."""
    assert _params(_meta(name)) == FULL_PARAMS[name]


@pytest.mark.parametrize("name", sorted(FULL_PARAMS))
def test_full_size_model_accepts_its_spec_input(name):
    """A default-size model maps one spec-shaped sample to ``num_classes`` outputs (meta)."""
    spec = MODELS[name]
    model = _meta(name)
    x = example_input(spec, 1).to("meta")
    assert tuple(x.shape[1:]) == spec.input_shape
    out = model(x)
    expected = (1, *spec.input_shape, spec.num_classes) if spec.input_kind == "tokens" else (
        1, spec.num_classes)
    assert tuple(out.shape) == expected


def test_gpt2_lm_head_is_tied_to_wte_unless_untied():
    """lm_head shares wte's weight by default; untying adds a vocab x d matrix."""
    tied = _meta("gpt2-small")
    assert tied.lm_head.weight is tied.wte.weight
    assert tied.lm_head.bias is None
    untied = _meta("gpt2-small", tie_weights=False)
    assert _params(untied) - _params(tied) == 50257 * 768


@pytest.mark.parametrize("name, expected", [
    ("resnet18-cifar", ["conv1", "bn1", "layer1.0.conv1", "layer1.0.bn1", "layer1.0.conv2",
                        "layer2.0.downsample.0", "layer2.0.downsample.1", "layer4.1.conv2",
                        "fc"]),
    ("resnet50-imagenet", ["conv1", "maxpool", "layer1.0.conv3", "layer1.0.downsample.0",
                           "layer3.5.conv2", "layer4.2.bn3", "fc"]),
    ("resnet9-cifar", ["prep.conv", "prep.bn", "layer1.conv", "layer1.pool", "layer1.res1.conv",
                       "layer1.res2.bn", "layer2.conv", "layer3.res2.conv", "pool", "fc"]),
    ("vgg16-cifar", ["features.0", "features.1", "features.6", "features.40", "classifier.0"]),
    ("vgg19-cifar", ["features.0", "features.49", "features.51", "classifier.0"]),
    ("vit-tiny", ["patch_embed.proj", "blocks.0.attn.qkv", "blocks.0.attn.proj",
                  "blocks.11.mlp.fc1", "blocks.11.mlp.fc2", "norm", "head"]),
    ("gpt2-small", ["wte", "wpe", "h.0.attn.c_attn", "h.0.attn.c_proj", "h.11.mlp.c_fc",
                    "h.11.mlp.c_proj", "ln_f", "lm_head"]),
])
def test_module_names_follow_reference_conventions(name, expected):
    """Modules carry torchvision / timm / GPT-2 names, so traces read like the originals."""
    modules = dict(_meta(name).named_modules())
    assert [n for n in expected if n not in modules] == []


def test_weight_gemms_are_conv2d_or_linear():
    """The named weight GEMMs are plain nn.Conv2d / nn.Linear modules of the reference shapes."""
    vit = dict(_meta("vit-tiny").named_modules())
    assert isinstance(vit["patch_embed.proj"], nn.Conv2d)
    assert vit["patch_embed.proj"].kernel_size == (16, 16)
    assert vit["patch_embed.proj"].stride == (16, 16)
    gpt = dict(_meta("gpt2-small").named_modules())
    assert isinstance(gpt["h.0.attn.c_attn"], nn.Linear)
    assert (gpt["h.0.attn.c_attn"].in_features, gpt["h.0.attn.c_attn"].out_features) == (
        768, 3 * 768)
    vgg = dict(_meta("vgg16-cifar").named_modules())
    assert isinstance(vgg["features.40"], nn.Conv2d)  # 13 x (conv, bn, relu) + 5 pools
    assert isinstance(vgg["features.43"], nn.MaxPool2d)  # as in torchvision's vgg16_bn
    assert (vgg["classifier.0"].in_features, vgg["classifier.0"].out_features) == (512, 10)


def test_resnet_stems():
    """CIFAR ResNet-18: 3x3/1 stem, no max-pool; ResNet-50: 7x7/2 stem and 3x3/2 max-pool."""
    r18, r50 = _meta("resnet18-cifar"), _meta("resnet50-imagenet")
    assert (r18.conv1.kernel_size, r18.conv1.stride) == ((3, 3), (1, 1))
    assert isinstance(r18.maxpool, nn.Identity)
    assert (r50.conv1.kernel_size, r50.conv1.stride) == ((7, 7), (2, 2))
    assert isinstance(r50.maxpool, nn.MaxPool2d)


def test_resnet50_is_v1_5():
    """ResNet-50 v1.5 strides the bottleneck's 3x3 conv, not its first 1x1."""
    block = _meta("resnet50-imagenet").layer2[0]
    assert block.conv1.stride == (1, 1)
    assert block.conv2.stride == (2, 2)
    assert block.downsample[0].stride == (2, 2)


def test_resnet9_layout():
    """ResNet-9: 3x3 convs without bias, a residual pair on layers 1 and 3 only, an adaptive
    max-pool into fc, and Page's 0.125 scale on the logits."""
    r9 = _meta("resnet9-cifar")
    convs = [m for m in r9.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 8  # + fc = the nine weight layers
    assert all(c.kernel_size == (3, 3) and c.bias is None for c in convs)
    assert [c.out_channels for c in convs] == [64, 128, 128, 128, 256, 512, 512, 512]
    assert r9.layer2.res1 is None and r9.layer3.res2 is not None
    assert isinstance(r9.pool, nn.AdaptiveMaxPool2d)
    assert (r9.fc.in_features, r9.fc.out_features, r9.scale) == (512, 10, 0.125)


def test_vgg19_layout():
    """VGG-19-BN: 16 (conv, bn, relu) triples and 5 pools, as torchvision's vgg19_bn."""
    vgg = dict(_meta("vgg19-cifar").named_modules())
    convs = [m for n, m in vgg.items() if n.startswith("features.") and isinstance(m, nn.Conv2d)]
    assert len(convs) == 16
    assert isinstance(vgg["features.49"], nn.Conv2d)
    assert isinstance(vgg["features.52"], nn.MaxPool2d)
    assert (vgg["classifier.0"].in_features, vgg["classifier.0"].out_features) == (512, 10)


@pytest.mark.parametrize("name, stem", [("resnet9-cifar", "prep.conv"),
                                        ("vgg19-cifar", "features.0")])
def test_new_models_sparsify_all_but_stem_and_classifier(name, stem):
    """sparsify (as the capture calls it) keeps the stem conv and the classifier dense and
    makes every other conv of the width-8 variant 2:8."""
    model = build_model(name, width=8)
    classifier = "fc" if name == "resnet9-cifar" else "classifier.0"
    table = sparsify(model, "bdwp", 2, 8, skip=[classifier])
    assert table[stem].status == "dense: stem conv"
    assert table[classifier].status == "dense: skipped"
    rest = {n: info.status for n, info in table.items() if n not in (stem, classifier)}
    assert rest and set(rest.values()) == {"sparse 2:8 bdwp"}


IMAGE_MODELS = sorted(n for n, spec in MODELS.items() if spec.input_kind == "image")


@pytest.mark.parametrize("name", IMAGE_MODELS)
@pytest.mark.parametrize("classes, size", [(100, 32), (200, 64)])
def test_image_models_take_dataset_heads(name, classes, size):
    """Every image model takes num_classes and image_size: a CIFAR-100 head at 32x32 and a
    Tiny-ImageNet head at 64x64 give [2, classes] (full size, meta; a batch of 2 because
    ResNet-50's last feature map is 1x1 at 32x32 and batch-norm needs two values)."""
    options = {"num_classes": classes, "image_size": size}
    x = example_input(name, 2, **options)
    assert tuple(x.shape) == (2, 3, size, size)
    assert tuple(_meta(name, **options)(x.to("meta")).shape) == (2, classes)


@pytest.mark.parametrize("name, size, message", [
    ("resnet9-cifar", 7, r"resnet9-cifar: image_size 7 .* at least 8 \(three 2x2 max-pools"),
    ("vgg19-cifar", 48, r"vgg19-cifar: image_size 48 .* multiple of 32 \(5 2x2 max-pools"),
    ("vgg16-cifar", 40, r"vgg16-cifar: image_size 40 .* multiple of 32"),
    ("vit-tiny", 50, r"ViT: image_size 50 .* multiple of 16 \(the patch size"),
    ("resnet18-cifar", 0, r"resnet18-cifar: image_size 0 .* positive"),
])
def test_image_size_that_cannot_work_is_a_satsim_error(name, size, message):
    """An image_size the layers cannot take raises SatsimError naming model, size and why."""
    with pytest.raises(SatsimError, match=message):
        _meta(name, image_size=size)


def test_paper_models_are_marked():
    """The five entries standing for the SAT paper's models carry the paper's names."""
    marked = {name: spec.paper_name for name, spec in MODELS.items() if spec.paper_name}
    assert marked == {"resnet9-cifar": "ResNet-9", "vit-tiny": "ViT", "vgg19-cifar": "VGG-19",
                      "resnet18-cifar": "ResNet-18", "resnet50-imagenet": "ResNet-50"}


def test_list_models_groups_the_paper_models(capsys):
    """`satsim list models` lists the paper's five under their heading, then the others, each
    with its parameter count."""
    assert main(["list", "models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "SAT paper (Fang et al., TCAD 2023) models:"
    assert lines[6] == "other models:"
    names = [line.split()[0] for line in lines if line.startswith("  ")]
    assert names == ["resnet9-cifar", "vit-tiny", "vgg19-cifar", "resnet18-cifar",
                     "resnet50-imagenet", "vgg16-cifar", "gpt2-small", "tinyllama-1.1b",
                     "llama2-7b", "llama3-8b", "llama2-13b"]
    assert len(lines) == 13 and all("parameters" in line for line in lines if line[0] == " ")
    assert "6.57M parameters" in lines[1] and "20.0M parameters" in lines[3]


@pytest.mark.parametrize("name", sorted(TINY))
def test_tiny_variant_output_shape(name):
    """A tiny variant maps a batch of 2 to [2, classes] (images) or [2, T, vocab] (tokens)."""
    model, x = _tiny(name)
    out = model(x)
    if MODELS[name].input_kind == "tokens":
        assert tuple(out.shape) == (2, 8, 97)
    else:
        assert tuple(out.shape) == (2, 7)


@pytest.mark.parametrize("name", sorted(TINY))
def test_every_weight_gemm_gets_a_gradient(name):
    """One backward pass gives every Conv2d / Linear weight a finite, non-zero gradient."""
    model, x = _tiny(name)
    model(x).float().square().mean().backward()
    gemms = {n: m for n, m in model.named_modules() if isinstance(m, nn.Conv2d | nn.Linear)}
    assert gemms
    missing = [n for n, m in gemms.items()
               if m.weight.grad is None or not torch.isfinite(m.weight.grad).all()
               or not m.weight.grad.abs().sum() > 0]
    assert missing == []


class _OpCounter(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.ops: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.append(func.overloadpacket.__name__)
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("name, layers", [("vit-tiny", 2), ("gpt2-small", 2)])
def test_attention_is_two_visible_bmms_per_layer(name, layers):
    """Attention runs as explicit q @ k^T and p @ v bmm ops, never a fused SDPA kernel."""
    model, x = _tiny(name)
    with torch.no_grad(), _OpCounter() as counter:
        model(x)
    assert counter.ops.count("bmm") == 2 * layers
    assert not [op for op in counter.ops if "scaled_dot_product" in op]


def test_gpt2_is_causal():
    """Changing the last token leaves the logits of every earlier position unchanged."""
    model, x = _tiny("gpt2-small")
    changed = x.clone()
    changed[:, -1] = (changed[:, -1] + 1) % 97
    with torch.no_grad():
        before, after = model(x), model(changed)
    torch.testing.assert_close(before[:, :-1], after[:, :-1])
    assert not torch.allclose(before[:, -1], after[:, -1])


def test_unknown_model_is_a_satsim_error():
    """An unknown name raises SatsimError listing the known models."""
    with pytest.raises(SatsimError, match=r"unknown model 'resnet9'.*resnet18-cifar"):
        build_model("resnet9")


def test_example_input_follows_options_and_seed():
    """example_input honours image_size / seq / vocab and is reproducible from its seed."""
    img = example_input("vit-tiny", 3, image_size=32, seed=5)
    assert img.shape == (3, 3, 32, 32) and img.dtype == torch.float32
    assert torch.equal(img, example_input("vit-tiny", 3, image_size=32, seed=5))
    assert not torch.equal(img, example_input("vit-tiny", 3, image_size=32, seed=6))
    tokens = example_input(MODELS["gpt2-small"], 2, seq=12, vocab=50)
    assert tokens.shape == (2, 12) and tokens.dtype == torch.int64
    assert int(tokens.min()) >= 0 and int(tokens.max()) < 50
    assert example_input("gpt2-small", 1, context=16).shape == (1, 16)
    assert example_input("gpt2-small", 1).shape == (1, 1024)
