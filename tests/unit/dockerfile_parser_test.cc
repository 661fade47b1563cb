// ParseDockerfile: directives, continuations, escapes, flags, heredocs,
// ONBUILD, FROM parts, variables and errors.
#include "core/buildgen/dockerfile_parser.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace dkd::core {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(DockerfileParserTest, ParsesDirectivesContinuationsAndLines) {
  const char* text =
      "# syntax=docker/dockerfile:1.7\n"
      "# check=skip=all\n"
      "\n"
      "ARG BASE=debian:bookworm-slim\n"
      "from ${BASE} as Build\n"
      "# a comment\n"
      "RUN apt-get update && \\\n"
      "    # comment inside a continuation\n"
      "\n"
      "    apt-get install -y \\\n"
      "      curl\n"
      "CMD [\"sh\", \"-c\", \"echo hi\"]\n";
  auto p = ParseDockerfile(text);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->directives.at("syntax"), "docker/dockerfile:1.7");
  EXPECT_EQ(p->directives.at("check"), "skip=all");
  ASSERT_EQ(p->instructions.size(), 4u);
  const auto& from = p->instructions[1];
  EXPECT_EQ(from.keyword, "FROM");
  FromInfo f = ParseFrom(from);
  EXPECT_EQ(f.image, "${BASE}");
  EXPECT_EQ(f.alias, "build");
  const auto& run = p->instructions[2];
  EXPECT_EQ(run.start_line, 7);
  EXPECT_EQ(run.end_line, 11);
  EXPECT_EQ(run.rest, "apt-get update &&     apt-get install -y       curl");
  const auto& cmd = p->instructions[3];
  EXPECT_TRUE(cmd.json_form);
  EXPECT_THAT(cmd.json_args, ElementsAre("sh", "-c", "echo hi"));
  EXPECT_EQ(cmd.start_line, 12);
  ASSERT_EQ(p->comments.size(), 1u);
  EXPECT_EQ(p->comments[0].line, 6);
}

TEST(DockerfileParserTest, BacktickEscapeForWindowsDockerfiles) {
  const char* text =
      "# escape=`\n"
      "FROM mcr.microsoft.com/windows/servercore:ltsc2022\n"
      "COPY testfile.txt c:\\\n"
      "RUN dir c:\\ `\n"
      "    && echo done\n";
  auto p = ParseDockerfile(text);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->escape, '`');
  ASSERT_EQ(p->instructions.size(), 3u);
  EXPECT_EQ(p->instructions[1].rest, "testfile.txt c:\\");
  EXPECT_EQ(p->instructions[2].rest, "dir c:\\     && echo done");
  EXPECT_EQ(p->instructions[2].end_line, 5);
}

TEST(DockerfileParserTest, DirectivesOnlyAtTheTop) {
  auto p = ParseDockerfile("FROM alpine:3.20\n# escape=`\nRUN echo \\\n  hi\n");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->escape, '\\');
  EXPECT_TRUE(p->directives.empty());
  EXPECT_EQ(p->instructions[1].rest, "echo   hi");
}

TEST(DockerfileParserTest, FlagsAndExecForm) {
  auto p = ParseDockerfile(
      "FROM --platform=$BUILDPLATFORM golang:1.22 AS build\n"
      "RUN --mount=type=cache,target=/root/.cache/go-build go build ./...\n"
      "COPY --from=build --chown=app:app /out/app /usr/local/bin/app\n"
      "HEALTHCHECK --interval=5s CMD [\"wget\", \"-q\", \"--spider\", \"http://x/\"]\n"
      "ENTRYPOINT /bin/app --flag\n");
  ASSERT_TRUE(p.ok()) << p.status();
  const auto& ins = p->instructions;
  EXPECT_EQ(ParseFrom(ins[0]).platform, "$BUILDPLATFORM");
  EXPECT_EQ(ParseFrom(ins[0]).tag, "1.22");
  EXPECT_EQ(ins[1].Flag("mount").value_or(""), "type=cache,target=/root/.cache/go-build");
  EXPECT_EQ(ins[1].rest, "go build ./...");
  EXPECT_EQ(ins[2].Flag("from").value_or(""), "build");
  EXPECT_EQ(ins[2].Flag("chown").value_or(""), "app:app");
  EXPECT_FALSE(ins[2].Flag("chmod").has_value());
  EXPECT_TRUE(ins[3].json_form);
  EXPECT_EQ(ins[3].json_args.size(), 4u);
  EXPECT_FALSE(ins[4].json_form);
}

TEST(DockerfileParserTest, EnvArgAndLabelForms) {
  auto p = ParseDockerfile(
      "FROM scratch\n"
      "ENV A=1 B=\"two words\" C='x $y'\n"
      "ENV LEGACY value with spaces\n"
      "ARG VERSION\n"
      "ARG OTHER=3\n"
      "LABEL org.opencontainers.image.title=\"My app\"\n");
  ASSERT_TRUE(p.ok());
  auto env = ParseKeyValues(p->instructions[1]);
  ASSERT_EQ(env.size(), 3u);
  EXPECT_EQ(env[1].value, "two words");
  EXPECT_EQ(env[2].value, "x $y");
  auto legacy = ParseKeyValues(p->instructions[2]);
  ASSERT_EQ(legacy.size(), 1u);
  EXPECT_EQ(legacy[0].key, "LEGACY");
  EXPECT_EQ(legacy[0].value, "value with spaces");
  auto arg = ParseKeyValues(p->instructions[3]);
  EXPECT_FALSE(arg[0].has_value);
  EXPECT_EQ(ParseKeyValues(p->instructions[4])[0].value, "3");
  EXPECT_EQ(ParseKeyValues(p->instructions[5])[0].value, "My app");
}

TEST(DockerfileParserTest, Heredocs) {
  auto p = ParseDockerfile(
      "FROM debian:12\n"
      "RUN <<EOF\n"
      "apt-get update\n"
      "apt-get install -y curl\n"
      "EOF\n"
      "COPY <<-\"CONF\" /etc/app.conf\n"
      "\tkey=value\n"
      "\tCONF\n"
      "USER nobody\n");
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_EQ(p->instructions.size(), 4u);
  const auto& run = p->instructions[1];
  ASSERT_EQ(run.heredocs.size(), 1u);
  EXPECT_EQ(run.heredocs[0].content, "apt-get update\napt-get install -y curl\n");
  EXPECT_EQ(run.end_line, 5);
  EXPECT_EQ(p->instructions[2].heredocs[0].content, "key=value\n");
  EXPECT_EQ(p->instructions[3].start_line, 9);
}

TEST(DockerfileParserTest, OnbuildCrlfAndCaseInsensitiveKeywords) {
  auto p = ParseDockerfile("FROM node:20\r\nonbuild run npm ci\r\nWorkDir /app\r\n");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->instructions[1].keyword, "ONBUILD");
  ASSERT_EQ(p->instructions[1].trigger.size(), 1u);
  EXPECT_EQ(p->instructions[1].trigger[0].keyword, "RUN");
  EXPECT_EQ(p->instructions[2].keyword, "WORKDIR");
  EXPECT_EQ(p->instructions[2].rest, "/app");
}

TEST(DockerfileParserTest, Errors) {
  auto bad = ParseDockerfile("FROM alpine:3.20\nFROBNICATE now\n");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("line 2"));
  EXPECT_FALSE(ParseDockerfile("# just a comment\n\n").ok());
  EXPECT_FALSE(ParseDockerfile("# escape=x\nFROM a:1\n").ok());
  EXPECT_FALSE(ParseDockerfile("FROM a:1\nRUN\n").ok());
}

TEST(DockerfileParserTest, FromImageParts) {
  auto p = ParseDockerfile(
      "FROM localhost:5000/team/app:1.0@sha256:abc AS x\nFROM python:${V:-3.12}-slim\n");
  ASSERT_TRUE(p.ok());
  FromInfo a = ParseFrom(p->instructions[0]);
  EXPECT_EQ(a.name, "localhost:5000/team/app");
  EXPECT_EQ(a.tag, "1.0");
  EXPECT_EQ(a.digest, "sha256:abc");
  FromInfo b = ParseFrom(p->instructions[1]);
  EXPECT_EQ(b.name, "python");
  EXPECT_EQ(b.tag, "${V:-3.12}-slim");
}

TEST(DockerfileParserTest, VariablesAndExpansion) {
  EXPECT_THAT(VariableReferences("$A ${B:-x} \\$C '$D' ${A}"), ElementsAre("A", "B"));
  std::map<std::string, std::string> vars = {{"A", "1"}, {"E", ""}};
  EXPECT_EQ(ExpandVariables("$A-${A}-${B:-def}-${A:+alt}-${E:-empty}-\\$A", vars),
            "1-1-def-alt-empty-$A");
}

}  // namespace
}  // namespace dkd::core
