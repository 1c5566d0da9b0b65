"""descent.torch on hostile input: every refusal is a Python exception naming the culprit, and a refused
call changes no parameter, no state and no group."""
import copy

import pytest

torch = pytest.importorskip("torch")
import descent.torch as dt  # noqa: E402


def params(dtype=torch.float32):
    torch.manual_seed(0)
    return [torch.randn(3, 4, dtype=dtype, requires_grad=True), torch.randn(4, dtype=dtype, requires_grad=True)]


def with_grads(ps):
    for p in ps:
        p.grad = torch.randn_like(p)
    return ps


def snapshot(opt, ps):
    return [p.detach().clone() for p in ps], copy.deepcopy(opt.state_dict())


def assert_unchanged(opt, ps, before):
    values, sd = before
    for p, v in zip(ps, values):
        assert torch.equal(p.detach(), v)
    now = opt.state_dict()
    assert now["param_groups"] == sd["param_groups"]
    assert now["state"].keys() == sd["state"].keys()
    for k in sd["state"]:
        assert now["state"][k].keys() == sd["state"][k].keys()
        for s, v in sd["state"][k].items():
            assert torch.equal(now["state"][k][s], v) if isinstance(v, torch.Tensor) else now["state"][k][s] == v


def stepped_adam():
    ps = with_grads(params())
    opt = dt.Adam(ps, lr=1e-2)
    opt.step()
    with_grads(ps)
    return opt, ps


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.int64, torch.complex64])
def test_wrong_dtype_is_type_error_naming_the_parameter(dtype):
    p = torch.zeros(3, dtype=dtype)
    with pytest.raises(TypeError, match=r"parameter 0 of group 0 has dtype %s" % str(dtype).replace(".", r"\.")):
        dt.Adam([p])


def test_gradient_of_another_dtype_is_type_error_and_changes_nothing():
    opt, ps = stepped_adam()
    before = snapshot(opt, ps)
    ps[1].grad = None
    ps[1].grad = torch.ones(4, dtype=torch.float64).to(torch.float32)  # fine
    opt2_ps = params()
    opt2 = dt.Adam(opt2_ps)
    # torch refuses a float64 .grad on a float32 tensor itself; reach it through .data
    opt2_ps[0].grad = torch.zeros(3, 4)
    opt2_ps[0].grad.data = torch.zeros(3, 4, dtype=torch.float64)
    with pytest.raises(TypeError, match="gradient of parameter 0 has dtype torch.float64"):
        opt2.step()
    assert_unchanged(opt, ps, before)


def test_a_tensor_not_on_the_cpu_is_refused_naming_its_device():
    # no CUDA here: the meta device takes the same path (any device but the CPU)
    p = torch.empty(3, device="meta", requires_grad=True)
    with pytest.raises(ValueError, match="parameter 0 of group 0 is on device 'meta'; descent steps CPU tensors"):
        dt.AdamW([p])


def test_sparse_parameter_and_sparse_gradient_are_refused():
    p = torch.sparse_coo_tensor([[0, 2]], [1.0, 2.0], (4,)).requires_grad_(True)
    with pytest.raises(ValueError, match="parameter 0 of group 0 is a sparse tensor"):
        dt.SGD([p], lr=0.1)
    emb = torch.nn.Embedding(6, 3, sparse=True)
    opt = dt.Adam(emb.parameters())
    emb(torch.tensor([1, 4])).sum().backward()
    before = snapshot(opt, list(emb.parameters()))
    with pytest.raises(ValueError, match="the gradient of parameter 0 is a sparse tensor"):
        opt.step()
    assert_unchanged(opt, list(emb.parameters()), before)


def test_non_contiguous_tensors_are_refused_never_copied():
    p = torch.randn(4, 3).t().requires_grad_(True)
    assert p.is_leaf and not p.is_contiguous()
    with pytest.raises(ValueError, match=r"parameter 0 of group 0 is not contiguous \(shape \[3, 4\]"):
        dt.Adam([p])
    opt, ps = stepped_adam()
    before = snapshot(opt, ps)
    ps[0].grad = torch.randn(4, 3).t()
    with pytest.raises(ValueError, match="the gradient of parameter 0 is not contiguous"):
        opt.step()
    assert_unchanged(opt, ps, before)


def test_a_parameter_listed_twice_is_refused():
    ps = params()
    with pytest.raises(ValueError, match="parameter 2 of group 0 is the same tensor as parameter 0"):
        dt.Adam([ps[0], ps[1], ps[0]])
    opt = dt.Adam([ps[0]])
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [ps[1], ps[0]]})
    assert len(opt.param_groups) == 1


def test_bad_option_values_name_the_option():
    ps = params()
    with pytest.raises(ValueError, match=r"group 0.*'lr' = -1"):
        dt.Adam([{"params": ps, "lr": -1.0}])
    with pytest.raises(ValueError, match="beta2"):
        dt.Adam(ps, betas=(0.9, 1.5))
    with pytest.raises(ValueError, match="betas must be a tuple of 2 numbers"):
        dt.Adam(ps, betas=0.9)
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        dt.Adam(ps, colour=1)
    with pytest.raises(ValueError, match="Nesterov|nesterov"):
        dt.SGD(ps, lr=0.1, nesterov=True)  # needs momentum, as in torch
    opt = dt.Adam(ps[:1])
    with pytest.raises(ValueError, match=r"group 1.*'eps'"):
        opt.add_param_group({"params": ps[1:], "eps": -1.0})
    assert len(opt.param_groups) == 1


def test_a_bad_value_set_in_a_group_after_construction_fails_the_step_and_changes_nothing():
    opt, ps = stepped_adam()
    before = snapshot(opt, ps)
    opt.param_groups[0]["lr"] = -0.5
    with pytest.raises(ValueError, match="'lr' = -0.5"):
        opt.step()
    opt.param_groups[0]["lr"] = 1e-2
    assert_unchanged(opt, ps, before)
    opt.step()  # and the optimizer still works
    assert opt.state[ps[0]]["step"].item() == 2


def test_a_state_dict_of_another_optimizer_is_refused():
    opt, ps = stepped_adam()
    before = snapshot(opt, ps)
    others = with_grads([p.detach().clone().requires_grad_(True) for p in ps])
    other = torch.optim.SGD(others, lr=0.1, momentum=0.9)
    other.step()
    with pytest.raises(KeyError, match="has 'momentum_buffer', which Adam does not keep"):
        opt.load_state_dict(other.state_dict())
    assert_unchanged(opt, ps, before)
    sgd = dt.SGD(ps, lr=0.1, momentum=0.9)
    with pytest.raises(KeyError, match="has 'exp_avg', 'exp_avg_sq', 'step', which SGD does not keep"):
        sgd.load_state_dict(opt.state_dict())


def test_a_state_dict_with_missing_or_misshaped_entries_is_refused():
    opt, ps = stepped_adam()
    before = snapshot(opt, ps)
    sd = copy.deepcopy(opt.state_dict())
    del sd["state"][1]["exp_avg_sq"]
    with pytest.raises(KeyError, match=r"state of parameter 1 \(group 0\) lacks 'exp_avg_sq'"):
        opt.load_state_dict(sd)
    sd = copy.deepcopy(opt.state_dict())
    sd["param_groups"][0]["amsgrad"] = True
    with pytest.raises(KeyError, match="lacks 'max_exp_avg_sq'"):
        opt.load_state_dict(sd)
    sd = copy.deepcopy(opt.state_dict())
    sd["state"][0]["exp_avg"] = torch.zeros(4, 3)
    with pytest.raises(ValueError, match=r"'exp_avg' is a tensor of shape \[4, 3\], not a tensor of shape \[3, 4\]"):
        opt.load_state_dict(sd)
    sd = copy.deepcopy(opt.state_dict())
    sd["state"][0]["step"] = torch.tensor(1.5)
    with pytest.raises(ValueError, match="'step' is .*not a count of steps"):
        opt.load_state_dict(sd)
    sd = copy.deepcopy(opt.state_dict())
    sd["param_groups"][0]["lr"] = -1.0
    with pytest.raises(ValueError, match="'lr' = -1"):
        opt.load_state_dict(sd)
    assert_unchanged(opt, ps, before)


def test_moved_parameter_memory_and_replaced_state_are_picked_up():
    """Not errors: p.data = ... and a replaced state tensor make the next step rebuild its binding."""
    ps = with_grads(params(torch.float64))
    ref_ps = [p.detach().clone().requires_grad_(True) for p in ps]
    ours, ref = dt.Adam(ps, lr=0.1), torch.optim.Adam(ref_ps, lr=0.1, foreach=False)
    for t in range(4):
        for p, q in zip(ps, ref_ps):
            q.grad = p.grad.clone()
        ours.step()
        ref.step()
        if t == 1:
            ps[0].data = ps[0].data.clone()
            ours.state[ps[1]]["exp_avg"] = ours.state[ps[1]]["exp_avg"].clone()
    for p, q in zip(ps, ref_ps):
        assert torch.equal(p.detach(), q.detach())


def test_amsgrad_turned_on_during_training_allocates_its_state():
    ps = with_grads(params())
    opt = dt.Adam(ps)
    opt.step()
    assert "max_exp_avg_sq" not in opt.state[ps[0]]
    opt.param_groups[0]["amsgrad"] = True
    opt.step()
    assert opt.state[ps[0]]["max_exp_avg_sq"].shape == ps[0].shape


def test_closure_is_called_with_grad_enabled():
    ps = params()
    opt = dt.SGD(ps, lr=0.1)

    def closure():
        opt.zero_grad()
        loss = sum((p ** 2).sum() for p in ps)
        loss.backward()
        return loss

    before = [p.detach().clone() for p in ps]
    loss = opt.step(closure)
    assert loss.item() > 0
    for p, b in zip(ps, before):
        assert torch.equal(p.detach(), b - 0.1 * 2 * b)


def test_every_registry_optimizer_is_a_torch_optimizer_that_steps():
    """Optimizers torch lacks (LARS, LAMB, and whatever the registry gains) step through the same adapter."""
    from descent import _descent
    for name in _descent.optimizer_names():
        cls = getattr(dt, _descent.kind_name(name))
        assert issubclass(cls, torch.optim.Optimizer)
        ps = with_grads(params(torch.float64))
        before = [p.detach().clone() for p in ps]
        opt = cls(ps)
        opt.step()
        opt.step()  # SOAP's first step only builds its preconditioner (as the authors' soap.py)
        assert any(not torch.equal(p.detach(), b) for p, b in zip(ps, before)), name
        again = cls([p.detach().clone().requires_grad_(True) for p in ps])
        again.load_state_dict(opt.state_dict())
    assert dt.Lamb is dt.LAMB


def test_a_deep_copy_steps_on_its_own_tensors():
    ps = with_grads(params(torch.float64))
    opt = dt.Adam(ps, lr=0.1, threads=1)
    opt.step()
    twin = copy.deepcopy(opt)  # copies the parameters too (torch's deepcopy of param_groups)
    twin_params = twin.param_groups[0]["params"]
    for p, q in zip(ps, twin_params):
        q.grad = p.grad.clone()
    opt.step()
    twin.step()
    for p, q in zip(ps, twin_params):
        assert torch.equal(p.detach(), q.detach())
    assert twin._threads == 1


def longest_pause_of_this_thread_while(work):
    """Runs work() on another thread; returns (the longest time this thread went without a loop turn while
    the work ran, the work's own duration). A call that holds the GIL stops this thread for its whole
    duration; one that releases it leaves only scheduling pauses."""
    import threading
    import time
    marks = {}

    def run():
        marks["in"] = time.perf_counter()
        work()
        marks["out"] = time.perf_counter()

    thread = threading.Thread(target=run)
    longest = 0.0
    last = time.perf_counter()
    thread.start()
    while "out" not in marks:
        now = time.perf_counter()
        if "in" in marks:
            longest = max(longest, now - last)
        last = now
    thread.join()
    return longest, marks["out"] - marks["in"]


def test_the_step_runs_without_the_gil():
    p = torch.zeros(4_000_000, requires_grad=True)
    p.grad = torch.ones_like(p)
    opt = dt.Adam([p], threads=1)
    opt.step()  # allocates the state
    # the measure can tell: sorting a long list holds the GIL throughout
    numbers = [float(k % 977) for k in range(600_000)]
    held, took = longest_pause_of_this_thread_while(lambda: sorted(numbers))
    assert held > 0.5 * took
    released, took = longest_pause_of_this_thread_while(opt.step)
    assert released < 0.5 * took, (released, took)


def test_momentum_turned_on_later_gets_a_buffer_also_for_a_parameter_without_a_gradient_then():
    ps = with_grads(params(torch.float64))
    ref_ps = [p.detach().clone().requires_grad_(True) for p in ps]
    ours, ref = dt.SGD(ps, lr=0.1), torch.optim.SGD(ref_ps, lr=0.1)

    def step(which):
        for p, q in zip(ps, ref_ps):
            q.grad = None if p.grad is None else p.grad.clone()
        ours.step()
        ref.step()

    step(0)
    ours.param_groups[0]["momentum"] = ref.param_groups[0]["momentum"] = 0.9
    ps[1].grad = None
    step(1)
    ps[1].grad = torch.ones(4, dtype=torch.float64)
    step(2)
    step(3)
    for p, q in zip(ps, ref_ps):
        assert torch.equal(p.detach(), q.detach())
        assert torch.equal(ours.state[p]["momentum_buffer"], ref.state[q]["momentum_buffer"])
