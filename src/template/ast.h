// Syntax tree of a parsed template: expressions and statements, each with its source position.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "template/value.h"

namespace riglm::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  enum class Kind {
    kLiteral,      // value
    kName,         // name
    kList,         // items
    kTuple,        // items
    kDict,         // items as key, value pairs
    kAttribute,    // items[0].name
    kSubscript,    // items[0][items[1]]
    kSlice,        // items[0][items[1]:items[2]:items[3]] (null parts absent)
    kCall,         // items[0](items[1..], keywords)
    kFilter,       // items[0] | name(items[1..], keywords)
    kTest,         // items[0] is [not] name(items[1..])
    kNot,          // not items[0]
    kNegate,       // -items[0]
    kBinary,       // items[0] op items[1]
    kAnd,
    kOr,
    kConditional,  // items[0] if items[1] else items[2]
  };
  Kind kind;
  int line = 0, column = 0;
  Value value;
  std::string name;  // kName, kAttribute, kFilter, kTest; kBinary: the operator
  bool negated = false;
  std::vector<ExprPtr> items;
  std::vector<std::pair<std::string, ExprPtr>> keywords;
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

struct MacroParam {
  std::string name;
  ExprPtr default_value;  // may be null
};

struct Stmt {
  enum class Kind { kText, kOutput, kIf, kFor, kSet, kSetBlock, kMacro, kFilterBlock, kBreak, kContinue };
  Kind kind;
  int line = 0, column = 0;
  std::string text;                 // kText
  ExprPtr expr;                     // kOutput, kFor (iterable), kSet (value)
  std::vector<std::pair<ExprPtr, Body>> branches;  // kIf: condition, body (else: null condition)
  std::vector<std::string> targets; // kFor loop variables; kSet/kSetBlock names
  std::string attribute;            // kSet: `ns.attribute = ...` when not empty
  ExprPtr condition;                // kFor: `for x in y if condition`
  Body body;                        // kFor, kSetBlock, kMacro, kFilterBlock
  Body else_body;                   // kFor
  std::string name;                 // kMacro
  std::vector<MacroParam> params;   // kMacro
  std::vector<ExprPtr> filters;     // kFilterBlock, kSetBlock: filter chain applied to the body
};

}  // namespace riglm::jinja
