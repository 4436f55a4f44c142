#include "reference_model.h"

#include <cmath>

#include "tensor/quant.h"

namespace riglm::testing {
namespace {

using Matrix = std::vector<std::vector<double>>;  // [rows][cols]

Matrix LoadMatrix(const GgufFile& gguf, const uint8_t* bytes, const std::string& name) {
  const GgufTensorInfo* t = gguf.FindTensor(name);
  if (t == nullptr) return {};
  const uint64_t cols = t->dims[0];
  const uint64_t rows = t->dims.size() > 1 ? t->dims[1] : 1;
  Matrix m(rows, std::vector<double>(cols));
  std::vector<float> row(cols);
  const uint8_t* data = bytes + gguf.data_offset_bytes() + t->offset_bytes;
  for (uint64_t r = 0; r < rows; ++r) {
    DequantizeRow(t->type, data + r * RowBytes(t->type, cols), row.data(), cols);
    for (uint64_t c = 0; c < cols; ++c) m[r][c] = row[c];
  }
  return m;
}

std::vector<double> MatVec(const Matrix& w, const std::vector<double>& x) {
  std::vector<double> y(w.size(), 0.0);
  for (size_t r = 0; r < w.size(); ++r) {
    for (size_t c = 0; c < x.size(); ++c) y[r] += w[r][c] * x[c];
  }
  return y;
}

std::vector<double> Norm(const std::vector<double>& x, const std::vector<double>& weight, double eps) {
  double ms = 0.0;
  for (double v : x) ms += v * v;
  ms /= static_cast<double>(x.size());
  std::vector<double> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] / std::sqrt(ms + eps) * weight[i];
  return y;
}

void RotateHeads(std::vector<double>& v, int64_t heads, const ModelConfig& c, int64_t pos,
                 const std::vector<float>& inv_freq) {
  const int64_t half = c.rope_dims / 2;
  for (int64_t h = 0; h < heads; ++h) {
    double* x = v.data() + h * c.head_dim;
    for (int64_t i = 0; i < half; ++i) {
      const double theta = static_cast<double>(pos) * inv_freq[i];
      const int64_t a = c.rope_style == cpu::RopeStyle::kNeox ? i : 2 * i;
      const int64_t b = c.rope_style == cpu::RopeStyle::kNeox ? i + half : 2 * i + 1;
      const double xa = x[a], xb = x[b];
      x[a] = xa * std::cos(theta) - xb * std::sin(theta);
      x[b] = xa * std::sin(theta) + xb * std::cos(theta);
    }
  }
}

}  // namespace

std::vector<double> ReferenceLogits(const GgufFile& gguf, const uint8_t* bytes, const std::vector<int32_t>& tokens) {
  const ModelConfig c = ModelConfig::FromGguf(gguf).value();
  auto load = [&](const std::string& name) { return LoadMatrix(gguf, bytes, name); };
  auto vec = [&](const std::string& name) {
    Matrix m = load(name);
    return m.empty() ? std::vector<double>() : m[0];
  };
  std::vector<float> factors;
  if (gguf.FindTensor("rope_freqs.weight")) {
    for (double f : vec("rope_freqs.weight")) factors.push_back(static_cast<float>(f));
  }
  const std::vector<float> inv_freq = c.RopeInverseFrequencies(factors);
  const Matrix embedding = load("token_embd.weight");
  Matrix output = load("output.weight");
  if (output.empty()) output = embedding;
  const int64_t n = static_cast<int64_t>(tokens.size());
  std::vector<std::vector<double>> x(n);
  for (int64_t t = 0; t < n; ++t) x[t] = embedding[tokens[t]];

  for (int64_t l = 0; l < c.block_count; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    const Matrix wq = load(p + "attn_q.weight"), wk = load(p + "attn_k.weight"), wv = load(p + "attn_v.weight");
    const Matrix wo = load(p + "attn_output.weight");
    const Matrix gate = load(p + "ffn_gate.weight"), up = load(p + "ffn_up.weight"), down = load(p + "ffn_down.weight");
    const std::vector<double> bq = vec(p + "attn_q.bias"), bk = vec(p + "attn_k.bias"), bv = vec(p + "attn_v.bias");
    std::vector<std::vector<double>> q(n), k(n), v(n);
    for (int64_t t = 0; t < n; ++t) {
      const std::vector<double> h = Norm(x[t], vec(p + "attn_norm.weight"), c.rms_norm_eps);
      q[t] = MatVec(wq, h);
      k[t] = MatVec(wk, h);
      v[t] = MatVec(wv, h);
      for (size_t i = 0; i < bq.size(); ++i) q[t][i] += bq[i];
      for (size_t i = 0; i < bk.size(); ++i) k[t][i] += bk[i];
      for (size_t i = 0; i < bv.size(); ++i) v[t][i] += bv[i];
      RotateHeads(q[t], c.head_count, c, t, inv_freq);
      RotateHeads(k[t], c.head_count_kv, c, t, inv_freq);
    }
    for (int64_t t = 0; t < n; ++t) {
      std::vector<double> attn(c.q_width(), 0.0);
      for (int64_t h = 0; h < c.head_count; ++h) {
        const int64_t kvh = h / (c.head_count / c.head_count_kv);
        std::vector<double> scores(t + 1);
        double max = -1e300;
        for (int64_t j = 0; j <= t; ++j) {
          double s = 0.0;
          for (int64_t d = 0; d < c.head_dim; ++d) s += q[t][h * c.head_dim + d] * k[j][kvh * c.head_dim + d];
          scores[j] = s / std::sqrt(static_cast<double>(c.head_dim));
          max = std::max(max, scores[j]);
        }
        double sum = 0.0;
        for (double& s : scores) sum += (s = std::exp(s - max));
        for (int64_t j = 0; j <= t; ++j) {
          for (int64_t d = 0; d < c.head_dim; ++d) {
            attn[h * c.head_dim + d] += scores[j] / sum * v[j][kvh * c.head_dim + d];
          }
        }
      }
      const std::vector<double> o = MatVec(wo, attn);
      for (int64_t i = 0; i < c.embedding_length; ++i) x[t][i] += o[i];
      const std::vector<double> h = Norm(x[t], vec(p + "ffn_norm.weight"), c.rms_norm_eps);
      std::vector<double> g = MatVec(gate, h);
      const std::vector<double> u = MatVec(up, h);
      for (size_t i = 0; i < g.size(); ++i) g[i] = g[i] / (1.0 + std::exp(-g[i])) * u[i];
      const std::vector<double> f = MatVec(down, g);
      for (int64_t i = 0; i < c.embedding_length; ++i) x[t][i] += f[i];
    }
  }
  std::vector<double> logits;
  for (int64_t t = 0; t < n; ++t) {
    const std::vector<double> row = MatVec(output, Norm(x[t], vec("output_norm.weight"), c.rms_norm_eps));
    logits.insert(logits.end(), row.begin(), row.end());
  }
  return logits;
}

}  // namespace riglm::testing
