# A short diagnostic for the device tool (build, a few tests, A/B timings); check.sh is the full check.
set -u
export PATH=/usr/local/cuda/bin:$PATH
mkdir -p /tmp/ng-stb && dpkg -x .gpu-carry/libstb-dev_*.deb /tmp/ng-stb
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DNG_BUILD_GUI=OFF -DNG_WITH_CUDA=ON -DNG_CUDA_ARCHS=90 -DNG_STB_INCLUDE=/tmp/ng-stb/usr/include/stb >/dev/null 2>&1 || echo configure failed
cmake --build build-gpu -j16 --target ng_engine_tests bench_train_step >$OUT/build.log 2>&1 || { grep error $OUT/build.log | head; exit 1; }
echo "built at $SECONDS s"
build-gpu/bin/ng_engine_tests --gtest_filter='CudaBatchNormRelu*:CudaLenet*:CudaLinear*' --gtest_brief=1 2>&1 | grep -A6 "Failure\|FAILED\|PASSED" | head -40
B=build-gpu/bin/bench_train_step
run() {  # label, env...
  local label=$1; shift
  env "$@" NG_CUDNN_LOG=1 $B --model resnet20 --batch 512 --device cuda --steps 30 --warmup 5 2>/tmp/algo_$label.txt | python3 -c "
import sys,json; j=json.loads(sys.stdin.read()); print('$label', round(j['median_ms'],3), 'ms', round(j['peak_gpu_mb']), 'MB nodes', j.get('graph_nodes'), 'loss', round(j['final_loss'],5), j.get('graphs_off_reason',''))"
  grep "^cuDNN" /tmp/algo_$label.txt | sed 's/; candidates.*//' | sort > /tmp/algo_$label.sorted
}
run fused
run composed NG_BN_RELU_KERNELS=0
run unfused NG_FUSE_RELU=0
run fused_eager NG_CUDA_GRAPHS=0
echo "cuDNN choices that differ, fused vs unfused:"; diff /tmp/algo_fused.sorted /tmp/algo_unfused.sorted | cut -c1-220 | head -12
echo "fused vs composed:"; diff /tmp/algo_fused.sorted /tmp/algo_composed.sorted | cut -c1-220 | head -12
for m in lenet mlp; do $B --model $m --batch 64 --device cuda --steps 50 --warmup 10 2>/dev/null | python3 -c "
import sys,json; j=json.loads(sys.stdin.read()); print(j['model'], round(j['median_ms'],4), 'ms nodes', j.get('graph_nodes'))"; done
echo "done at $SECONDS s"
