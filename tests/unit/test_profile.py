from leaderboard.domain.profile import backend_class, build_family, build_platform, profile_key


def test_old_runs_without_a_backend_name_are_classed_by_device():
    assert backend_class({"device": "cpu"}) == "cpu"
    assert backend_class({"device": "gpu"}) == "cuda"
    assert backend_class({"backend": "Vulkan", "device": "gpu"}) == "vulkan"


def test_the_build_family_names_the_llama_cpp_build():
    assert build_family({"build_family": "fam-1"}) == "fam-1"
    assert build_family({"llama_cpp_python": "0.3.36", "llama_cpp_commit": "0c1e570"}) == \
        "llama-cpp-python 0.3.36 / llama.cpp 0c1e570"
    assert build_platform({"build_family": "f", "platform": "linux-x86_64"}) == ("f", "linux-x86_64")


def test_a_cpu_and_a_gpu_measurement_are_different_profiles():
    common = dict(corpus_sha256="A" * 64, n_ctx=512, n_chunks=8, build={"build_family": "f"})
    cpu = profile_key(hardware={"backend": "cpu"}, **common)
    gpu = profile_key(hardware={"backend": "cuda"}, **common)
    assert cpu != gpu and cpu.digest != gpu.digest
    assert cpu.corpus_sha256 == "a" * 64 and len(cpu.digest) == 32
    assert profile_key(hardware={"backend": "cpu"}, **common).digest == cpu.digest


def test_two_cpus_are_two_profiles_and_a_gpu_run_names_no_cpu():
    common = dict(corpus_sha256="a" * 64, n_ctx=512, n_chunks=8, build={"build_family": "f | CPU: AVX2 AVX512"})
    xeon = profile_key(hardware={"backend": "cpu-avx512_vnni", "cpu": "Intel(R) Xeon(R) Processor"}, **common)
    epyc = profile_key(hardware={"backend": "cpu-avx512_vnni", "cpu": "AMD EPYC 9654 96-Core Processor"}, **common)
    assert xeon.cpu == "Intel(R) Xeon(R) Processor" and xeon.digest != epyc.digest
    assert "cpu-avx512_vnni on Intel(R) Xeon(R) Processor" in xeon.label("wiki")
    cuda = profile_key(hardware={"backend": "cuda", "cpu": "Intel(R) Xeon(R) Processor"}, **common)
    assert cuda.cpu == "" and " on " not in cuda.label("wiki")
    # profiles recorded before the CPU was part of them keep their ids
    assert profile_key(hardware={"backend": "cpu"}, **common).digest == \
        profile_key(hardware={"backend": "cpu", "cpu": "any"}, **common).digest
